// http: events POSTed over HTTP, as Fluent Bit's in_http. The URL path is
// the tag. A request is answered 2xx only after its events are stored (with
// filesystem storage: written to disk), so a client that got a 2xx may
// forget them, and one that got anything else may send them again.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Input, InputContext, InputKind } from '../input.ts';
import { listen } from '../net/listen.ts';
import type { Record } from '../net/json-records.ts';
import { StoredBatches } from '../net/stored-batches.ts';
import { readBody } from './body.ts';
import { SUPPORTED_TYPES, decode, formatOf } from './decode.ts';

interface HttpConfig {
  listen: string;
  port: number;
  tag_key: string;
  buffer_max_size: number;
  buffer_chunk_size: number;
  successful_response_code: number;
  bearer_token: string;
}

/** What a 503 tells clients to wait before sending again. */
const RETRY_AFTER_S = 1;
/** At stop, how long connections may take to finish sending their answers before they are closed. */
const STOP_WAIT_MS = 2000;
/** A tag in the URL path: letters, digits, '_', '-' and '.'. */
const TAG = /^[A-Za-z0-9_.-]+$/;

export class HttpInput implements Input {
  private readonly cfg: HttpConfig;
  private readonly ctx: InputContext;
  private readonly server: Server;
  private readonly batches: StoredBatches;
  private readonly tokenDigest: Buffer | undefined;
  private stopping = false;
  /** Requests whose body is being read: a stop answers them 503 at once. */
  private readonly reading = new Map<IncomingMessage, ServerResponse>();

  constructor(cfg: HttpConfig, ctx: InputContext) {
    this.cfg = cfg;
    this.ctx = ctx;
    this.batches = new StoredBatches(ctx);
    this.tokenDigest = cfg.bearer_token ? digest(cfg.bearer_token) : undefined;
    this.server = createServer((req, res) => void this.handle(req, res, false));
    // Expect: 100-continue (curl sends it for large bodies): a request that
    // will be refused is refused before its body is sent at all.
    this.server.on('checkContinue', (req, res) => void this.handle(req, res, true));
    const name = { name: ctx.name };
    this.server.on('connection', (socket: Socket) => {
      ctx.metrics.inputConnections.inc(name);
      socket.once('close', () => ctx.metrics.inputConnections.dec(name));
    });
  }

  async start(): Promise<void> {
    const port = await listen(this.server, this.ctx.name, 'http', this.cfg.listen, this.cfg.port);
    this.ctx.log.info({ listen: this.cfg.listen, port }, 'http input listening');
  }

  private async handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    try {
      await this.serve(req, res, expectsContinue);
    } catch (err) {
      this.ctx.log.error({ err: (err as Error).message }, 'http input: could not handle a request');
      if (!res.headersSent) this.answer(req, res, 500, { error: `internal error: ${(err as Error).message}` });
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    if (this.tokenDigest && !this.authorized(req)) {
      return this.answer(req, res, 401, { error: 'missing or wrong bearer token (Authorization: Bearer <token>)' }, { 'www-authenticate': 'Bearer' });
    }
    if (req.method !== 'POST') return this.answer(req, res, 405, { error: `${req.method} is not allowed; send events with POST` }, { allow: 'POST' });
    const tag = this.tagOfPath(req.url ?? '/');
    if (tag === undefined) {
      return this.answer(req, res, 404, { error: `${JSON.stringify(req.url)} is not a tag: POST to / (the input's tag) or to /<tag>, a tag of letters, digits, '_', '-' and '.'` });
    }
    if (this.refusing(req, res)) return;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.cfg.buffer_max_size) {
      return this.answer(req, res, 413, { error: `the body (${declared} bytes) is over buffer_max_size (${this.cfg.buffer_max_size} bytes); send smaller requests` });
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip') {
      return this.answer(req, res, 415, { error: `Content-Encoding ${encoding} is not supported; send the body as it is, or gzip it` });
    }
    const format = formatOf(req.headers['content-type']);
    if (!format) {
      return this.answer(req, res, 415, { error: `Content-Type ${req.headers['content-type']} is not supported; use one of ${SUPPORTED_TYPES.join(', ')}` });
    }
    if (expectsContinue) res.writeContinue();

    this.reading.set(req, res);
    const body = await readBody(req, this.cfg.buffer_max_size, encoding === 'gzip').finally(() => this.reading.delete(req));
    // Answered 503 by a stop while its body came.
    if (res.headersSent) return;
    if (!body.ok) {
      if (body.status === 0) return void this.ctx.log.debug({ peer: req.socket.remoteAddress }, body.error);
      return this.answer(req, res, body.status, { error: body.error });
    }
    // Paused (or stopping) while the body came: nothing is written, the client sends it again.
    if (this.refusing(req, res)) return;
    const decoded = decode(format, body.data);
    if (!decoded.ok) {
      const { error, offset, line } = decoded;
      return this.answer(req, res, 400, { error, ...(offset !== undefined ? { offset } : {}), ...(line !== undefined ? { line } : {}) });
    }
    await this.batches.store(decoded.records, this.recordTagger(tag));
    this.answer(req, res, this.cfg.successful_response_code);
  }

  /** Answers 503 (and true) while the input is paused by backpressure or stopping. */
  private refusing(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.stopping && !this.ctx.account.paused) return false;
    const error = this.stopping
      ? 'the input is stopping; send again (to the new instance after a reload)'
      : 'the input is paused: sluice holds as much as its limits allow (mem_buf_limit, storage.max_chunks_up, storage.max_memory) until outputs deliver; send again later';
    this.answer(req, res, 503, { error }, { 'retry-after': String(RETRY_AFTER_S) });
    return true;
  }

  private answer(req: IncomingMessage, res: ServerResponse, code: number, body?: object, headers: { [k: string]: string } = {}): void {
    this.ctx.metrics.httpRequests.inc({ name: this.ctx.name, code: String(code) });
    // A body left unread (refused early) or a stop: the connection is not
    // reused, so the rest of a refused body is never read.
    if ((hasBody(req) && !req.complete) || this.stopping) headers.connection = 'close';
    if (body && code !== 204) {
      const text = JSON.stringify(body) + '\n';
      res.writeHead(code, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
      res.end(text);
    } else {
      res.writeHead(code, { ...headers, 'content-length': '0' });
      res.end();
    }
  }

  private authorized(req: IncomingMessage): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    // Digests are compared, so the time taken says nothing about the token, not even its length.
    return !!m && timingSafeEqual(digest(m[1]!), this.tokenDigest!);
  }

  /** `/` is the input's tag; `/app.logs` is app.logs; anything else is not a tag. */
  private tagOfPath(url: string): string | undefined {
    const path = url.split('?')[0]!;
    if (path === '/' || path === '') return this.ctx.tag;
    let tag: string;
    try {
      tag = decodeURIComponent(path.slice(1));
    } catch {
      return undefined;
    }
    return TAG.test(tag) ? tag : undefined;
  }

  /** With tag_key, a record's own string value at that key is its tag. */
  private recordTagger(tag: string): (r: Record) => string {
    const key = this.cfg.tag_key;
    if (!key) return () => tag;
    return (r) => {
      const v = r[key];
      return typeof v === 'string' && v !== '' ? v : tag;
    };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // No new connections; idle keep-alive ones are closed, the others once
    // they have their answer (Connection: close from now on).
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    // Requests whose events are written get their answer now; any other
    // gets 503 from here on, those still sending their body at once:
    // nothing more is written.
    this.batches.close();
    for (const [req, res] of this.reading) this.refusing(req, res);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
    clearTimeout(timer);
    this.server.closeAllConnections();
  }
}

/** A request that announces a body (which, refused early, is left unread). */
const hasBody = (req: IncomingMessage) => (req.headers['content-length'] ?? '0') !== '0' || req.headers['transfer-encoding'] !== undefined;

const digest = (s: string) => createHash('sha256').update(s).digest();

export const http: InputKind = {
  description: 'Events POSTed over HTTP (JSON, NDJSON, MessagePack or a form); the URL path is the tag',
  spec: {
    listen: { type: 'string', default: '0.0.0.0', description: 'Address to listen on' },
    port: { type: 'int', default: 9880, min: 0, description: 'TCP port to listen on (0: any free port, logged)' },
    tag_key: { type: 'string', default: '', description: 'If set, a record whose value at this key is a string gets that string as its tag' },
    buffer_max_size: { type: 'size', default: 4 * 1024 * 1024, min: 1024, description: 'Largest request body; a larger one is refused with 413' },
    buffer_chunk_size: { type: 'size', default: 512 * 1024, min: 1, description: 'Accepted for Fluent Bit configs; sluice reads bodies as they come, up to buffer_max_size' },
    successful_response_code: { type: 'int', default: 201, description: 'Status of a request whose events are stored: 200, 201 or 204' },
    bearer_token: { type: 'string', default: '', secret: true, description: 'If set, requests must carry Authorization: Bearer <token>, or get 401' },
  },
  create(cfg, ctx) {
    if (![200, 201, 204].includes(cfg.successful_response_code)) throw new Error(`successful_response_code: must be 200, 201 or 204, got ${cfg.successful_response_code}`);
    if (cfg.port > 65535) throw new Error(`port: must be at most 65535, got ${cfg.port}`);
    return new HttpInput(cfg as HttpConfig, ctx);
  },
};
