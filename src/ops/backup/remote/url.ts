/**
 * `backups.remote.url`: where off-site copies go, and how a failure of that remote is explained. Pure.
 *
 *   s3://BUCKET[/PREFIX]            S3 or any S3-compatible server (backups.remote.endpoint, path style)
 *   sftp://USER@HOST[:PORT]/PATH    a directory on an SSH server (the SFTP subsystem)
 */

export type RemoteLocation =
  | { kind: 's3'; bucket: string; prefix: string }
  | { kind: 'sftp'; user: string; host: string; port: number; path: string };

export function parseRemoteUrl(text: string): { ok: true; location: RemoteLocation } | { ok: false; error: string } {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { ok: false, error: `not a URL: ${JSON.stringify(text)} (s3://bucket/prefix or sftp://user@host/path)` };
  }
  const clean = (p: string) => decodeURIComponent(p).replace(/^\/+|\/+$/g, '');
  if (u.protocol === 's3:') {
    if (!u.hostname) return { ok: false, error: 's3:// needs a bucket: s3://bucket/prefix' };
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(u.hostname)) return { ok: false, error: `${u.hostname} is not a valid bucket name (3-63 lower-case letters, digits, dots, hyphens)` };
    return { ok: true, location: { kind: 's3', bucket: u.hostname, prefix: clean(u.pathname) } };
  }
  if (u.protocol === 'sftp:') {
    if (!u.username) return { ok: false, error: 'sftp:// needs a user: sftp://user@host/path' };
    if (!u.hostname) return { ok: false, error: 'sftp:// needs a host: sftp://user@host/path' };
    const p = decodeURIComponent(u.pathname).replace(/\/+$/, '');
    if (!p || p === '/') return { ok: false, error: 'sftp:// needs a directory: sftp://user@host/srv/backups' };
    return { ok: true, location: { kind: 'sftp', user: decodeURIComponent(u.username), host: u.hostname, port: u.port ? Number(u.port) : 22, path: p } };
  }
  return { ok: false, error: `${u.protocol}// is not supported: use s3://bucket/prefix or sftp://user@host/path` };
}

export function describeLocation(l: RemoteLocation, endpoint?: string): string {
  if (l.kind === 's3') return `s3://${l.bucket}${l.prefix ? `/${l.prefix}` : ''}${endpoint ? ` at ${endpoint}` : ''}`;
  return `sftp://${l.user}@${l.host}:${l.port}${l.path}`;
}

/** Joins the remote prefix and a relative key. */
export function remoteKey(prefix: string, rel: string): string {
  return prefix ? `${prefix}/${rel}` : rel;
}

export interface RemoteFailure {
  /** Whether trying again later can help (network, server down) rather than a fix in the config. */
  retryable: boolean;
  hint: string;
}

/** Explains an error from the S3 SDK or ssh2 for a human: what to check. */
export function classifyRemoteError(kind: RemoteLocation['kind'], err: { name?: string; code?: string | number; message?: string; $metadata?: { httpStatusCode?: number }; level?: string }, keys: { accessKey: string; secretKey: string; identityFile?: string }): RemoteFailure {
  const msg = err.message ?? '';
  const name = err.name ?? '';
  const code = String(err.code ?? '');
  if (/ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|socket hang up|Timed out while waiting for handshake|TimeoutError|EAI_AGAIN/i.test(`${code} ${name} ${msg}`)) {
    return { retryable: true, hint: 'the remote is unreachable: check that it is up and reachable from here (backups.remote.url / endpoint); uploads stay queued and are retried' };
  }
  if (code === 'ENOTFOUND') return { retryable: true, hint: 'the remote host name does not resolve: check backups.remote.url / endpoint and DNS; uploads stay queued' };
  if (kind === 's3') {
    if (/InvalidAccessKeyId|SignatureDoesNotMatch|InvalidClientTokenId|AuthorizationHeaderMalformed/.test(name) || /access key id you provided does not exist|signature we calculated does not match/i.test(msg)) {
      return { retryable: false, hint: `the S3 credentials were refused: check ${keys.accessKey} and ${keys.secretKey} in .env (and backups.remote.region)` };
    }
    if (/AccessDenied|Forbidden/.test(name) || err.$metadata?.httpStatusCode === 403) return { retryable: false, hint: `access denied: the key in ${keys.accessKey} needs s3:PutObject, s3:GetObject, s3:ListBucket and s3:DeleteObject on the bucket` };
    if (/NoSuchBucket/.test(name)) return { retryable: false, hint: 'the bucket does not exist: create it, or fix the bucket in backups.remote.url' };
    if ((err.$metadata?.httpStatusCode ?? 0) >= 500) return { retryable: true, hint: 'the S3 server had an internal error: uploads stay queued and are retried' };
    return { retryable: true, hint: 'check backups.remote (url, endpoint, region) and the server; uploads stay queued and are retried' };
  }
  if (err.level === 'client-authentication' || /All configured authentication methods failed/i.test(msg)) {
    return { retryable: false, hint: `the SSH server refused the key: check backups.remote.identityFile${keys.identityFile ? ` (${keys.identityFile})` : ''} and that its public key is in the remote user's authorized_keys` };
  }
  if (/host key/i.test(msg)) return { retryable: false, hint: 'the SSH server\'s host key is not the one in backups.remote.hostKey: if the server was reinstalled, update it (ssh-keyscan HOST | ssh-keygen -lf -)' };
  if (/Permission denied|EACCES/i.test(msg) || code === '3') return { retryable: false, hint: 'the remote user cannot write there: check the directory in backups.remote.url and its permissions' };
  if (/No such file/i.test(msg) || code === '2') return { retryable: false, hint: 'the remote directory does not exist: create it, or fix the path in backups.remote.url' };
  return { retryable: true, hint: 'check backups.remote and the SSH server; uploads stay queued and are retried' };
}
