import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A fixed loopback address in front of a host that comes and goes — what a client of `npm start`
 * sees, whose host always listens on 127.0.0.1:7071 — for tests that restart the host on a new port
 * (tests/helpers/stack.ts `restart()`). While the host is down the address refuses connections and
 * the open ones are reset.
 */
export interface FixedAddress {
  url: string;
  /** The host went away: open connections are reset, new ones refused. */
  down(): Promise<void>;
  /** The host is back at `targetPort`. */
  up(targetPort: number): Promise<void>;
  close(): Promise<void>;
}

export async function fixedAddress(targetPort: number): Promise<FixedAddress> {
  let target = targetPort;
  const sockets = new Set<Socket>();
  let server: Server;
  const open = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(target, '127.0.0.1');
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const port = await open(0);
  const down = async () => {
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.resetAndDestroy();
    sockets.clear();
    await closed;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    down,
    up: async (p) => {
      target = p;
      await open(port);
    },
    close: down,
  };
}

