// Cold-start breakdown (diagnostic for case f): the steps open() takes inside its worker, timed one by one.
// Times are absolute (timeOrigin + now) so the page can place them on its own clock.
const now = () => performance.timeOrigin + performance.now();
const tStart = now();
try {
  const { EngineDatabase, loadEngine, normalizeOptions } = await import('/js/engine-host.js');
  const tImported = now();
  await loadEngine();
  const tEngine = now();
  const name = 'bench-cold-breakdown';
  const db = await EngineDatabase.open(name, normalizeOptions(name, {}));
  const tOpened = now();
  db.query('SELECT 1 AS one');
  const tQueried = now();
  const wasm = performance.getEntriesByType('resource').find((e) => e.name.endsWith('.wasm'));
  self.postMessage({
    tStart,
    importEngineHostMs: tImported - tStart,
    loadEngineMs: tEngine - tImported,
    wasmFetchMs: wasm ? wasm.responseEnd - wasm.startTime : null,
    openDatabaseMs: tOpened - tEngine,
    firstQueryMs: tQueried - tOpened,
    tQueried,
  });
} catch (e) {
  self.postMessage({ error: `${e?.code ?? e?.name}: ${e?.message ?? e}` });
}
