// Test plumbing: inside a test network namespace, listen on 127.0.0.1:PORT and relay every
// connection to a Unix socket (filesystem sockets cross network namespaces), behind which the test
// process relays to its in-process API server on the host's 127.0.0.1:PORT. So a kubeconfig for
// https://127.0.0.1:PORT works unchanged inside the namespace, TLS end to end.
// Usage: node tcp-to-unix.mjs PORT SOCKET_PATH
import { createServer, connect } from 'node:net';

const [port, path] = process.argv.slice(2);
const server = createServer((client) => {
  const upstream = connect(path);
  client.pipe(upstream).pipe(client);
  const end = () => { client.destroy(); upstream.destroy(); };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', end);
  upstream.on('close', end);
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ ready: true })}\n`));
