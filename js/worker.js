// The dedicated worker's entry: waits for the port that the facade (or, later, another tab) hands over and
// serves the database on it. Everything else lives in worker-server.js.
import { loadEngine } from './engine-host.js';
import { CONNECT, ENGINE, READY } from './protocol.js';
import { WorkerServer } from './worker-server.js';

const server = new WorkerServer();
let receiveModule = null;
self.onmessage = ({ data }) => {
  if (data?.type === CONNECT) {
    // The open request arrives right behind CONNECT; its storage set-up overlaps the engine's loading.
    if (data.engine === 'follows') loadEngine(new Promise((resolve) => (receiveModule = resolve))).catch(() => {});
    else loadEngine().catch(() => {}); // open() reports failures
    server.attach(data.port, data.lifeline);
  } else if (data?.type === ENGINE) {
    receiveModule?.(data.module instanceof WebAssembly.Module ? data.module : null);
  }
};
// Only now can a message be received: a wrapper script that imports this module dynamically would
// otherwise lose the facade's first message.
self.postMessage({ type: READY });
