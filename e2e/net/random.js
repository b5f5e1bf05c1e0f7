// Seeded randomness for the network suite: every fault, flap and crash point is drawn from a PRNG seeded by
// OUTPOST_E2E_SEED (or the seed list of a full run), so a failing run is named by its seed and replayable.

/** sfc32 (small fast counter): 128 bits of state, good statistical quality, deterministic across platforms. */
export function prng(seed) {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = () => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next(); // mix the seed into the whole state
  const random = () => next();
  random.between = (lo, hi) => lo + (hi - lo) * next();
  random.int = (lo, hi) => lo + Math.floor((hi - lo + 1) * next());
  random.pick = (items) => items[Math.floor(items.length * next())];
  /** Draws a key of `weights` ({ name: weight }) in proportion to its weight. */
  random.weighted = (weights) => {
    const entries = Object.entries(weights).filter(([, w]) => w > 0);
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let x = next() * total;
    for (const [name, w] of entries) if ((x -= w) < 0) return name;
    return entries[entries.length - 1][0];
  };
  /** An independent stream for one part of a run (faults, flaps, crashes), so adding draws to one part does not shift the others. */
  random.fork = (label) => prng(hash(`${seed}:${label}`));
  return random;
}

/** FNV-1a of a string, as a 32-bit seed. */
export function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The seeds of this run: OUTPOST_E2E_SEED=42 runs one; OUTPOST_E2E_SEEDS=1-20 or 3,7,11 runs a list (the full
 * run); otherwise `ciSeeds`, the reduced set CI runs.
 */
export function seedsFromEnv(ciSeeds) {
  if (process.env.OUTPOST_E2E_SEED) return [Number(process.env.OUTPOST_E2E_SEED)];
  const list = process.env.OUTPOST_E2E_SEEDS;
  if (!list) return ciSeeds;
  return list.split(',').flatMap((part) => {
    const m = /^(\d+)-(\d+)$/.exec(part.trim());
    if (!m) return [Number(part)];
    return Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => Number(m[1]) + i);
  });
}
