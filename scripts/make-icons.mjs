// Draws the demo's app icons (demo-app/icons/*.png) from a few shapes, so the PNGs committed next to the
// manifest can be regenerated and changed without an image editor: a white outpost tent with a flag on the
// app's teal. `icon-*.png` have rounded corners ("any" purpose); `maskable-512.png` is full-bleed with the
// mark inside the 80% safe zone that launchers may crop to a circle. Run: node scripts/make-icons.mjs
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'demo-app', 'icons');
const TEAL = [0x13, 0x5e, 0x7a];
const WHITE = [0xff, 0xff, 0xff];
const AMBER = [0xf2, 0xb1, 0x34];

/** Is (x, y) inside triangle abc? */
function inTriangle(x, y, [ax, ay], [bx, by], [cx, cy]) {
  const s = (px, py, qx, qy, rx, ry) => (px - rx) * (qy - ry) - (qx - rx) * (py - ry);
  const d1 = s(x, y, ax, ay, bx, by);
  const d2 = s(x, y, bx, by, cx, cy);
  const d3 = s(x, y, cx, cy, ax, ay);
  return !((d1 < 0 || d2 < 0 || d3 < 0) && (d1 > 0 || d2 > 0 || d3 > 0));
}

/** Colour of the mark at (x, y) in a unit square, or null where the background shows. */
function mark(x, y) {
  if (inTriangle(x, y, [0.5, 0.62], [0.41, 0.8], [0.59, 0.8])) return null; // the tent's door
  if (inTriangle(x, y, [0.5, 0.3], [0.2, 0.8], [0.8, 0.8])) return WHITE; // the tent
  if (x >= 0.485 && x <= 0.515 && y >= 0.14 && y <= 0.32) return WHITE; // the pole
  if (inTriangle(x, y, [0.515, 0.14], [0.515, 0.26], [0.68, 0.2])) return AMBER; // the flag
  if (y >= 0.8 && y <= 0.84 && x >= 0.14 && x <= 0.86) return WHITE; // the ground
  return null;
}

/** RGBA of the icon at (x, y) in a unit square. */
function pixel(x, y, maskable) {
  const scale = maskable ? 0.72 : 0.86; // maskable: the whole mark within the central 80% circle
  const m = mark(0.5 + (x - 0.5) / scale, 0.5 + (y - 0.5) / scale);
  if (!maskable) {
    const r = 0.18; // corner radius
    const cx = Math.min(Math.max(x, r), 1 - r);
    const cy = Math.min(Math.max(y, r), 1 - r);
    if ((x - cx) ** 2 + (y - cy) ** 2 > r * r) return [0, 0, 0, 0];
  }
  return [...(m ?? TEAL), 255];
}

function png(size, maskable) {
  const ss = 4; // 4×4 supersampling for smooth edges
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let py = 0; py < size; py++) {
    raw[py * (size * 4 + 1)] = 0; // filter: none
    for (let px = 0; px < size; px++) {
      const acc = [0, 0, 0, 0];
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          const [r, g, b, a] = pixel((px + (sx + 0.5) / ss) / size, (py + (sy + 0.5) / ss) / size, maskable);
          acc[0] += r * a;
          acc[1] += g * a;
          acc[2] += b * a;
          acc[3] += a;
        }
      }
      const o = py * (size * 4 + 1) + 1 + px * 4;
      const alpha = acc[3] / (ss * ss);
      for (let c = 0; c < 3; c++) raw[o + c] = acc[3] ? Math.round(acc[c] / acc[3]) : 0;
      raw[o + 3] = Math.round(alpha);
    }
  }
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

for (const [name, size, maskable] of [
  ['icon-192.png', 192, false],
  ['icon-512.png', 512, false],
  ['maskable-512.png', 512, true],
]) {
  writeFileSync(join(OUT, name), png(size, maskable));
}
console.log(`icons written to ${OUT}`);
