// Builds the installable demo into demo-app/ so that the folder alone is the whole site (served at / by
// `outpost-server serve --static demo-app`, or at /demo-app/ from the repository root by scripts/demo.sh):
//
//   demo-app/build/main-HASH.js, main-HASH.css, chunk-HASH.js   the app (demo-app/src/) and the facade (js/)
//   demo-app/build/engine/outpost-worker.js, outpost-engine.wasm  the engine, copied from js/engine/
//   demo-app/index.html                                          demo-app/src/index.html with the hashed names
//   demo-app/sw.js                                               service-worker/sw.js bundled, with the
//                                                                precache manifest injected by workbox-build
//
// Needs js/engine/ built (scripts/build.sh: WASM, then scripts/bundle-worker.mjs). Run by scripts/build.sh
// after the worker bundle; by hand: node scripts/build-sw.mjs
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { injectManifest } from 'workbox-build';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const demo = join(top, 'demo-app');
const out = join(demo, 'build');

export async function buildServiceWorker({ quiet = false } = {}) {
  await rm(out, { recursive: true, force: true });
  await mkdir(join(out, 'engine'), { recursive: true });

  // The engine: the facade's default worker URL is ./engine/outpost-worker.js next to the bundle that holds
  // it, and the worker finds the WASM next to itself.
  for (const file of ['outpost-worker.js', 'outpost-engine.wasm']) {
    await copyFile(join(top, 'js/engine', file), join(out, 'engine', file));
  }

  // The app, named after its content: a hashed URL never changes meaning, so caches may keep it for ever.
  const app = await build({
    entryPoints: [join(demo, 'src/main.js'), join(demo, 'src/app.css')],
    outdir: out,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.entries(app.metafile.outputs);
  const entry = (name) => {
    const found = outputs.find(([, meta]) => meta.entryPoint?.endsWith(`src/${name}`));
    if (!found) throw new Error(`esbuild produced no output for src/${name}`);
    return relative(demo, join(top, found[0]));
  };
  const html = (await readFile(join(demo, 'src/index.html'), 'utf8'))
    .replaceAll('%MAIN_JS%', entry('main.js'))
    .replaceAll('%MAIN_CSS%', entry('app.css'));
  await writeFile(join(demo, 'index.html'), html);

  // The service worker: bundle it (Workbox modules are ES modules meant for a bundler), then let
  // workbox-build replace self.__WB_MANIFEST with the list of files to precache and their revisions.
  const swBundle = join(top, 'build', 'sw', 'sw.js');
  await build({
    entryPoints: [join(top, 'service-worker/sw.js')],
    outfile: swBundle,
    bundle: true,
    format: 'iife',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const { count, size, warnings } = await injectManifest({
    swSrc: swBundle,
    swDest: join(demo, 'sw.js'),
    globDirectory: demo,
    globPatterns: ['index.html', 'manifest.webmanifest', 'icons/*.png', 'build/**/*.{js,css,wasm}'],
    // Hashed names are their own revision; the rest get a content hash as revision.
    dontCacheBustURLsMatching: /-[A-Z0-9]{8}\.(?:js|css)$/,
    maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
  });
  for (const warning of warnings) console.warn(`build-sw: ${warning}`);
  if (!quiet) console.log(`demo-app built: ${basename(entry('main.js'))}, sw.js precaches ${count} files (${(size / 1024).toFixed(0)} KiB)`);
}

if (import.meta.url === `file://${process.argv[1]}`) await buildServiceWorker();
