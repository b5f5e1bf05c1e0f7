// Rebuilds the bundled worker from js/ before the suite, so a run never tests a stale bundle.
import { bundleWorker } from '../scripts/bundle-worker.mjs';

export default async function globalSetup() {
  await bundleWorker();
}
