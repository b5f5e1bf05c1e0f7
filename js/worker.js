// The dedicated worker's entry: waits for the port that the facade (or, later, another tab) hands over and
// serves the database on it. Everything else lives in worker-server.js.
import { loadEngine } from './engine-host.js';
import { CONNECT, READY } from './protocol.js';
import { WorkerServer } from './worker-server.js';

// Start compiling the WASM while the facade's open request is still on its way; open() reports failures.
loadEngine().catch(() => {});

const server = new WorkerServer();
self.onmessage = (event) => {
  if (event.data?.type === CONNECT) server.attach(event.data.port, event.data.lifeline);
};
// Only now can a message be received: a wrapper script that imports this module dynamically would
// otherwise lose the facade's first message.
self.postMessage({ type: READY });
