// Case g (anchor): a worker that answers each message on the port it is given at once, doing nothing else:
// the floor of one facade round trip (page -> worker -> page over a MessageChannel, as js/index.js talks to
// its worker).
self.onmessage = ({ data, ports }) => {
  if (data !== 'port') return;
  const [port] = ports;
  port.onmessage = ({ data: batch }) => port.postMessage(batch.map(({ id }) => ({ id, result: { changes: 1, lastInsertRowId: id } })));
};
