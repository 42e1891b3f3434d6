// Reads a request body into memory, never more than the limit: over it, the
// reading stops and the caller answers 413. With Content-Encoding: gzip the
// limit bounds both what comes over the wire and what it inflates to, so a
// small compressed body cannot fill memory.
import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';

export type Body =
  | { ok: true; data: Buffer }
  | { ok: false; status: 400 | 413; error: string }
  /** The client went away before the body was complete: nobody to answer. */
  | { ok: false; status: 0; error: string };

export function readBody(req: IncomingMessage, limit: number, gzip: boolean): Promise<Body> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    let wire = 0;
    let done = false;
    const gunzip = gzip ? createGunzip() : undefined;

    const finish = (b: Body) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      // Stop taking data; node:http closes the connection after the answer
      // (Connection: close), so the rest of an oversized body is not read.
      if (!b.ok) req.pause();
      gunzip?.destroy();
      resolve(b);
    };
    const tooLarge = (inflated: boolean) =>
      finish({ ok: false, status: 413, error: `the body${inflated ? ', inflated,' : ''} is over buffer_max_size (${limit} bytes); send smaller requests` });
    const take = (buf: Buffer) => {
      size += buf.length;
      if (size > limit) return tooLarge(gzip);
      parts.push(buf);
    };
    const onData = (buf: Buffer) => {
      wire += buf.length;
      if (wire > limit) return tooLarge(false);
      if (gunzip) gunzip.write(buf);
      else take(buf);
    };

    req.on('data', onData);
    req.on('end', () => {
      if (gunzip) gunzip.end();
      else finish({ ok: true, data: Buffer.concat(parts, size) });
    });
    req.on('close', () => {
      if (!req.complete) finish({ ok: false, status: 0, error: 'the client closed the connection before the body was complete' });
    });
    if (gunzip) {
      gunzip.on('data', (buf: Buffer) => {
        if (!done) take(buf);
      });
      gunzip.on('end', () => finish({ ok: true, data: Buffer.concat(parts, size) }));
      gunzip.on('error', (err) => finish({ ok: false, status: 400, error: `the body is not valid gzip (Content-Encoding: gzip): ${err.message}` }));
    }
  });
}
