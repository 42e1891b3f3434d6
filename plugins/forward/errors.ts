// Why a chunk was not delivered, as the answer it gets: RETRY for what may
// pass (the receiver is down, restarting, slow, the network broke), ERROR for
// what only a config change can fix (the receiver refused the shared key, its
// certificate does not verify), each with what to do. `kind` labels the
// forward_errors_total metric.
export type ErrorKind =
  | 'connect_refused' | 'connect_timeout' | 'dns' | 'reset' | 'closed' | 'ack_timeout' | 'write_timeout'
  | 'handshake' | 'auth' | 'tls' | 'unexpected_helo' | 'protocol' | 'encode' | 'io';

export class SendError extends Error {
  readonly kind: ErrorKind;
  /** True: ERROR (no retry can succeed); false: RETRY. */
  readonly fatal: boolean;
  constructor(kind: ErrorKind, message: string, fatal = false) {
    super(message);
    this.kind = kind;
    this.fatal = fatal;
  }
}

/** TLS verification failures: the receiver's certificate is not trusted, or not for this name. */
const CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE',
  'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A socket error (connect, TLS, read or write) as a SendError; `where` is the receiver, `connected` whether the connection was up. */
export function socketError(err: NodeJS.ErrnoException, where: string, connected: boolean): SendError {
  const code = err.code ?? '';
  const text = err.message;
  if (CERT_CODES.has(code)) {
    return new SendError('tls', `the TLS certificate of ${where} does not verify (${code}: ${text}); give its CA in tls.ca_file, name the certificate's host in tls.vhost, or (not in production) set tls.verify: off`, true);
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return new SendError('tls', `${where} does not speak TLS (${code}); set tls: off, or point host and port at its TLS listener`, true);
  }
  if (/^ERR_SSL_.*(ALERT_CERTIFICATE_REQUIRED|ALERT_HANDSHAKE_FAILURE|ALERT_UNKNOWN_CA|ALERT_BAD_CERTIFICATE)/.test(code)) {
    return new SendError('tls', `${where} refused the TLS handshake (${code}): it may require a client certificate (tls.crt_file, tls.key_file) signed by a CA it trusts`, true);
  }
  if (code === 'ECONNREFUSED') return new SendError('connect_refused', `cannot connect to ${where}: connection refused (is the receiver running and listening there?)`);
  if (code === 'ENOENT' && !connected) return new SendError('connect_refused', `cannot connect to ${where}: no such socket (is the receiver running?)`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new SendError('dns', `cannot resolve the host of ${where} (${code})`);
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') {
    return new SendError('reset', connected ? `the connection to ${where} was reset (${code})` : `${where} reset the connection while it was being opened (${code})`);
  }
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return new SendError('connect_timeout', `cannot reach ${where} (${code})`);
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return new SendError('tls', `TLS with ${where} failed (${code}: ${text})`);
  return new SendError('io', `connection to ${where} failed: ${code ? `${code}: ` : ''}${text}`);
}
