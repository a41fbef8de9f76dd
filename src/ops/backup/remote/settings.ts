/** backups.remote and backups.encryption as the commands need them, and the store they open. */
import path from 'node:path';
import { UserError, errorMessage } from '../../../util/errors.ts';
import { readIdentityKey } from '../../../config/identity-file.ts';
import { REMOTE_IDENTITY_ENV } from '../../../stack/names.ts';
import type { OpsSettings } from '../context.ts';
import { s3Store } from './s3.ts';
import { sftpStore } from './sftp.ts';
import type { RemoteStore } from './store.ts';
import { classifyRemoteError, describeLocation, parseRemoteUrl, type RemoteLocation } from './url.ts';

export interface RemoteSettings {
  location: RemoteLocation;
  describe: string;
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
  accessKeyEnv: string;
  secretKeyEnv: string;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  identityFile?: string | undefined;
  /** The key's bytes, read once (db-backup reads them as root, before it drops to uid 1000); else read from identityFile at connect. */
  identityKey?: Buffer | undefined;
  hostKey?: string | undefined;
  intervalSeconds: number;
  lagAlertSeconds: number;
  /** age recipients; empty: copies are not encrypted. */
  recipients: string[];
}

export function encryptionRecipients(s: OpsSettings): string[] {
  return [...(s.loaded?.config.backups.encryption.recipients ?? [])];
}

/** null when backups.remote.url is not set. `urlOverride` is `--remote-url`. */
export function remoteSettings(s: OpsSettings, env: NodeJS.ProcessEnv, urlOverride?: string): RemoteSettings | null {
  const c = s.loaded?.config.backups.remote;
  const url = urlOverride ?? c?.url;
  if (!url) return null;
  const parsed = parseRemoteUrl(url);
  if (!parsed.ok) throw new UserError(`backups.remote.url: ${parsed.error}`, { exitCode: 2 });
  const accessKeyEnv = c?.accessKeyEnv ?? 'S3_ACCESS_KEY_ID';
  const secretKeyEnv = c?.secretKeyEnv ?? 'S3_SECRET_ACCESS_KEY';
  const base = s.loaded?.dir ?? process.cwd();
  const endpoint = c?.endpoint ?? env.MODELSHIP_S3_ENDPOINT;
  return {
    location: parsed.location,
    describe: describeLocation(parsed.location, endpoint),
    endpoint,
    region: c?.region ?? 'us-east-1',
    forcePathStyle: c?.forcePathStyle ?? Boolean(endpoint),
    accessKeyEnv,
    secretKeyEnv,
    accessKeyId: s.loaded?.env[accessKeyEnv] ?? env[accessKeyEnv],
    secretAccessKey: s.loaded?.env[secretKeyEnv] ?? env[secretKeyEnv],
    // In db-backup the config's host path is mounted elsewhere (MOUNT.remoteIdentity); the env says where.
    identityFile: c?.identityFile ? (env[REMOTE_IDENTITY_ENV] || path.resolve(base, c.identityFile)) : undefined,
    hostKey: c?.hostKey,
    intervalSeconds: c?.intervalSeconds ?? 15,
    lagAlertSeconds: c?.lagAlertSeconds ?? 1800,
    recipients: encryptionRecipients(s),
  };
}

/**
 * backups.remote for the scheduler, with the SFTP key read now. Unreadable: dumps and WAL still
 * run, and /health fails with the reason (deploy checked the host file before it changed anything).
 */
export async function remoteWithKey(settings: OpsSettings, env: NodeJS.ProcessEnv, jsonLine: (e: Record<string, unknown>) => void): Promise<{ remoteCfg: RemoteSettings | null; keyProblem: string | null }> {
  const remoteCfg = remoteSettings(settings, env);
  if (remoteCfg?.location.kind !== 'sftp' || !remoteCfg.identityFile) return { remoteCfg, keyProblem: null };
  const mounted = env.MODELSHIP_ROLE === 'scheduler' ? ' (backups.remote.identityFile of the host, mounted)' : '';
  try {
    remoteCfg.identityKey = await readIdentityKey(remoteCfg.identityFile, mounted);
    return { remoteCfg, keyProblem: null };
  } catch (err) {
    const keyProblem = `${errorMessage(err)}${err instanceof UserError && err.hint ? `; fix: ${err.hint}` : ''}`;
    jsonLine({ level: 'error', event: 'off-site key unreadable', error: keyProblem });
    return { remoteCfg, keyProblem };
  }
}

export function requireRemote(s: OpsSettings, env: NodeJS.ProcessEnv, urlOverride?: string): RemoteSettings {
  const r = remoteSettings(s, env, urlOverride);
  if (!r) throw new UserError('no off-site remote is configured', { hint: 'set backups.remote.url (s3://bucket/prefix or sftp://user@host/path) in the config, or pass --remote-url', exitCode: 2 });
  return r;
}

/** A failure of the remote, explained: what failed where, what to check, and whether a retry can help. */
export class RemoteError extends UserError {
  readonly retryable: boolean;
  constructor(message: string, opts: { hint: string; retryable: boolean; cause: unknown }) {
    super(message, { hint: opts.hint, cause: opts.cause });
    this.name = 'RemoteError';
    this.retryable = opts.retryable;
  }
}

function explained(store: RemoteStore, r: RemoteSettings): RemoteStore {
  const wrap = <A extends unknown[], T>(op: string, fn: (...a: A) => Promise<T>) => async (...a: A): Promise<T> => {
    try {
      return await fn(...a);
    } catch (err) {
      if (err instanceof UserError) throw err;
      const e = err as Parameters<typeof classifyRemoteError>[1];
      const f = classifyRemoteError(r.location.kind, e, { accessKey: r.accessKeyEnv, secretKey: r.secretKeyEnv, ...(r.identityFile ? { identityFile: r.identityFile } : {}) });
      const what = errorMessage(err) || e.name || 'failed';
      throw new RemoteError(`remote ${r.describe}: ${op}${typeof a[0] === 'string' ? ` ${a[0]}` : ''} failed: ${what}`, { hint: f.hint, retryable: f.retryable, cause: err });
    }
  };
  return {
    describe: store.describe,
    put: wrap('upload', store.put.bind(store)),
    putText: wrap('upload', store.putText.bind(store)),
    read: wrap('download', store.read.bind(store)),
    getText: wrap('download', store.getText.bind(store)),
    list: wrap('listing', store.list.bind(store)),
    remove: wrap('deleting', store.remove.bind(store)),
    close: () => store.close().catch(() => undefined),
  };
}

export function openRemote(r: RemoteSettings): RemoteStore {
  const l = r.location;
  if (l.kind === 's3') {
    if (!r.accessKeyId || !r.secretAccessKey) {
      throw new UserError(`remote ${r.describe}: no S3 credentials: ${!r.accessKeyId ? r.accessKeyEnv : r.secretKeyEnv} is not set in .env`, {
        hint: `add ${r.accessKeyEnv}=… and ${r.secretKeyEnv}=… to .env (a key allowed to put, get, list and delete in the bucket)`,
        exitCode: 2,
      });
    }
    return explained(s3Store({ bucket: l.bucket, prefix: l.prefix, endpoint: r.endpoint, region: r.region, forcePathStyle: r.forcePathStyle, accessKeyId: r.accessKeyId, secretAccessKey: r.secretAccessKey, describe: r.describe }), r);
  }
  if (!r.identityFile) throw new UserError(`remote ${r.describe}: no SSH key`, { hint: 'set backups.remote.identityFile to the private key file', exitCode: 2 });
  return explained(sftpStore({ user: l.user, host: l.host, port: l.port, path: l.path, identityFile: r.identityFile, privateKey: r.identityKey, hostKey: r.hostKey, describe: r.describe }), r);
}
