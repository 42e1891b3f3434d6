// Binding a network input's listening socket, with an error that says which
// input could not listen where, and what to do about it.
import type { AddressInfo, Server } from 'node:net';
import { InputStartError } from '../input.ts';

const HINTS: { [code: string]: { why: string; key: 'port' | 'listen'; fix: string } } = {
  EADDRINUSE: { why: 'the port is already in use', key: 'port', fix: 'stop what uses it or choose another port' },
  EACCES: { why: 'permission denied', key: 'port', fix: 'ports below 1024 need privileges; choose a port of 1024 or more' },
  EADDRNOTAVAIL: { why: 'no interface of this machine has that address', key: 'listen', fix: 'use one of its addresses, 127.0.0.1 or 0.0.0.0' },
  ENOTFOUND: { why: 'the name does not resolve', key: 'listen', fix: 'use an IP address or a name this machine resolves' },
};

/** Listens on host:port; resolves with the port bound (port 0 picks a free one). */
export function listen(server: Server, input: string, kind: string, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint = HINTS[err.code ?? ''];
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      reject(new InputStartError(
        `input ${input} (${kind}) cannot listen on ${where}: ${hint ? `${hint.why} (${err.code}); ${hint.fix}` : err.message}`,
        hint?.key ?? 'port',
      ));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
