// The forward output's keys (docs/forward.md is their manual), named and
// defaulted as Fluent Bit's out_forward, and their resolution into settings:
// TLS files read and checked, key combinations that cannot work refused.
// Everything that can be known without a receiver fails here, naming the
// key, so Configure (and `sluice validate`) report it.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import type { ConfigSpec } from '../../sdk/src/index.ts';

export const spec = {
  host: { type: 'string', default: '127.0.0.1', description: 'The receiver\'s host name or IP address' },
  port: { type: 'int', default: 24224, min: 1, description: 'The receiver\'s TCP port' },
  unix_path: { type: 'string', default: '', description: 'Connect to this unix socket instead of host and port' },
  tag: { type: 'string', default: '', description: 'Tag sent with every chunk instead of the chunk\'s own (empty: the chunk\'s tag)' },
  time_as_integer: { type: 'bool', default: false, description: 'Send times as integer seconds (Fluentd v0.12 and older) instead of EventTime with nanoseconds' },
  retain_metadata_in_forward_mode: { type: 'bool', default: false, description: 'Send each event as [[time, metadata], record] (Fluent Bit v2 receivers only) instead of Fluentd\'s [time, record]' },
  send_options: { type: 'bool', default: false, description: 'Send the option map (size) with every chunk; require_ack_response and compress gzip imply it' },
  require_ack_response: { type: 'bool', default: false, description: 'Ask the receiver for an ack per chunk and answer OK only when it arrives; off: OK once the chunk is written to the socket' },
  compress: { type: 'string', default: 'text', oneOf: ['text', 'gzip'], description: 'gzip: send CompressedPackedForward (entries gzipped); text: PackedForward' },
  shared_key: { type: 'string', default: '', secret: true, description: 'Shared key for the handshake (HELO/PING/PONG); empty: no handshake' },
  empty_shared_key: { type: 'bool', default: false, description: 'Do the handshake with an empty shared key' },
  self_hostname: { type: 'string', default: 'localhost', description: 'This client\'s host name in the handshake' },
  username: { type: 'string', default: '', description: 'User name, for a receiver that asks for one in its HELO (needs shared_key)' },
  password: { type: 'string', default: '', secret: true, description: 'Password for username' },
  connect_timeout: { type: 'duration', default: 10, min: 0.01, description: 'Bound on opening a connection: TCP connect, TLS and the shared-key handshake' },
  ack_timeout: { type: 'duration', default: 30, min: 0.01, description: 'Bound on a chunk from its write to its ack (without require_ack_response: until it is written); then RETRY and the connection is closed. Keep it below the output\'s flush_timeout' },
  tls: { type: 'bool', default: false, description: 'Connect with TLS' },
  'tls.verify': { type: 'bool', default: true, description: 'Verify the receiver\'s certificate and name' },
  'tls.ca_file': { type: 'string', default: '', description: 'CA certificates (PEM) to verify the receiver with, instead of the system\'s' },
  'tls.crt_file': { type: 'string', default: '', description: 'Client certificate (PEM), for mutual TLS' },
  'tls.key_file': { type: 'string', default: '', description: 'Client private key (PEM), for mutual TLS' },
  'tls.key_passwd': { type: 'string', default: '', secret: true, description: 'Password of tls.key_file, if it is encrypted' },
  'tls.vhost': { type: 'string', default: '', description: 'Server name for SNI and verification, when it differs from host' },
} satisfies ConfigSpec;

export interface Config {
  host: string;
  port: number;
  unix_path: string;
  tag: string;
  time_as_integer: boolean;
  retain_metadata_in_forward_mode: boolean;
  send_options: boolean;
  require_ack_response: boolean;
  compress: 'text' | 'gzip';
  shared_key: string;
  empty_shared_key: boolean;
  self_hostname: string;
  username: string;
  password: string;
  connect_timeout: number;
  ack_timeout: number;
  tls: boolean;
  'tls.verify': boolean;
  'tls.ca_file': string;
  'tls.crt_file': string;
  'tls.key_file': string;
  'tls.key_passwd': string;
  'tls.vhost': string;
}

export interface Settings {
  /** Where to connect, for messages: host:port or the unix path. */
  target: string;
  host: string;
  port: number;
  unixPath?: string;
  /** The tag override; undefined: each chunk's own tag. */
  tag?: string;
  timeAsInteger: boolean;
  retainMetadata: boolean;
  /** The option map goes with every frame (send_options, or implied). */
  sendOptions: boolean;
  requireAck: boolean;
  gzip: boolean;
  /** The shared key when the handshake is on (shared_key set, or empty_shared_key); undefined: no handshake. */
  sharedKey?: string;
  selfHostname: string;
  username: string;
  password: string;
  connectTimeoutMs: number;
  ackTimeoutMs: number;
  tls?: ConnectionOptions;
}

export interface KeyError {
  key: string;
  message: string;
}

function readPem(key: string, file: string, errors: KeyError[]): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    errors.push({ key, message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return undefined;
  }
}

function resolveTls(config: Config, errors: KeyError[]): ConnectionOptions | undefined {
  const files = (['tls.ca_file', 'tls.crt_file', 'tls.key_file', 'tls.key_passwd', 'tls.vhost'] as const).filter((k) => config[k]);
  if (!config.tls) {
    if (files.length > 0) errors.push({ key: files[0]!, message: 'is set but tls is off; set tls: on' });
    return undefined;
  }
  const ca = readPem('tls.ca_file', config['tls.ca_file'], errors);
  const cert = readPem('tls.crt_file', config['tls.crt_file'], errors);
  const key = readPem('tls.key_file', config['tls.key_file'], errors);
  const passphrase = config['tls.key_passwd'] || undefined;
  if (!!config['tls.crt_file'] !== !!config['tls.key_file']) {
    errors.push({ key: config['tls.crt_file'] ? 'tls.key_file' : 'tls.crt_file', message: 'mutual TLS needs both tls.crt_file and tls.key_file' });
  }
  if (ca && !errors.some((e) => e.key === 'tls.ca_file')) {
    // Node ignores a CA file with no certificate in it; every connection would then fail verification.
    const pems = ca.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    try {
      if (pems.length === 0) throw new Error('no PEM certificate (-----BEGIN CERTIFICATE-----) in it');
      for (const pem of pems) new X509Certificate(pem);
    } catch (err) {
      errors.push({ key: 'tls.ca_file', message: `${config['tls.ca_file']} is not usable: ${(err as Error).message}` });
    }
  }
  if (!errors.some((e) => e.key.startsWith('tls.'))) {
    try {
      // Catches a PEM that does not parse, and a key that does not belong to its certificate.
      createSecureContext({ ca, cert, key, passphrase });
    } catch (err) {
      errors.push({ key: cert ? 'tls.key_file' : 'tls.ca_file', message: `TLS files are not usable together: ${(err as Error).message}` });
    }
  }
  const tls: ConnectionOptions = { ca, cert, key, passphrase, rejectUnauthorized: config['tls.verify'] };
  // Node checks the certificate against servername when it is set, else against host (an IP address
  // against the certificate's IP entries). SNI takes a name, never an IP address.
  const servername = config['tls.vhost'] || config.host;
  if (!isIP(servername)) tls.servername = servername;
  return tls;
}

/** Settings from a config its spec already accepted, or the errors of every key that is wrong. */
export function resolve(config: Config): { settings?: Settings; errors: KeyError[] } {
  const errors: KeyError[] = [];
  if (!config.unix_path && !config.host.trim()) errors.push({ key: 'host', message: 'must not be empty (or set unix_path)' });
  if (config.port > 65535) errors.push({ key: 'port', message: `must be at most 65535, got ${config.port}` });
  if (config.shared_key && config.empty_shared_key) errors.push({ key: 'empty_shared_key', message: 'is on but shared_key is set too; use one of them' });
  const handshake = config.shared_key !== '' || config.empty_shared_key;
  if (!handshake && (config.username || config.password)) {
    errors.push({ key: config.username ? 'username' : 'password', message: 'is set but shared_key is empty: user authentication is part of the shared-key handshake; set shared_key (or empty_shared_key: on)' });
  }
  if (!!config.username !== !!config.password) errors.push({ key: config.username ? 'password' : 'username', message: 'username and password go together' });
  if (handshake && !config.self_hostname) errors.push({ key: 'self_hostname', message: 'must not be empty with the shared-key handshake' });
  if (config.unix_path && config.tls) errors.push({ key: 'tls', message: 'is not used with unix_path; turn it off' });
  const tls = resolveTls(config, errors);
  if (errors.length) return { errors };
  const target = config.unix_path ? `unix://${config.unix_path}` : `${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  const gzip = config.compress === 'gzip';
  return {
    errors,
    settings: {
      target,
      host: config.host,
      port: config.port,
      unixPath: config.unix_path || undefined,
      tag: config.tag || undefined,
      timeAsInteger: config.time_as_integer,
      retainMetadata: config.retain_metadata_in_forward_mode,
      sendOptions: config.send_options || config.require_ack_response || gzip,
      requireAck: config.require_ack_response,
      gzip,
      sharedKey: handshake ? config.shared_key : undefined,
      selfHostname: config.self_hostname,
      username: config.username,
      password: config.password,
      connectTimeoutMs: config.connect_timeout * 1000,
      ackTimeoutMs: config.ack_timeout * 1000,
      tls,
    },
  };
}
