import net from 'node:net';

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago, for a server whose port must be set before it
 * starts. Another process could take the port before the caller binds it, and the tests accept that race.
 */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolve);
  });

  const address = probe.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
