import type { Server } from 'node:http';

/**
 * Keep idle keep-alive connections open past the clients' own idle timeout. Node's clients (the global agent the
 * durable client's axios uses, undici's fetch) reuse an idle socket for up to 4–5 s, and a Node server closes one
 * after 5 s by default: a request sent on a socket the server is closing fails with ECONNRESET ("fetch failed").
 * bench:cohort at 1,000 learners met both. Azure's front ends keep idle connections for minutes.
 */
export function outlastClientKeepAlive<S extends Pick<Server, 'keepAliveTimeout' | 'headersTimeout'>>(server: S): S {
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
