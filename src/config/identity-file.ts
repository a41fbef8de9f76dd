/**
 * The SFTP remote's SSH private key (backups.remote.identityFile) as the deployed stack uses it: a
 * file on the host, mounted read-only into db-backup (a secret of mode 0400 on a swarm), read once
 * by `modelship schedule` while it is still root, kept in memory after it drops to uid 1000. Never
 * an image layer, an environment value, a rendered Compose value or a container spec field.
 *
 * `keyFileProblem` is pure (the stat and the bytes are passed in); `checkIdentityFile` is the I/O
 * that `deploy` runs before it changes anything, so a missing or unusable key fails there and not
 * at the first scheduled copy.
 */
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import ssh2 from 'ssh2';
import { stackIdentityFile } from '../stack/names.ts';
import type { LoadedConfig } from './load.ts';
import { UserError, errorMessage } from '../util/errors.ts';

export interface KeyFacts {
  isFile: boolean;
  mode: number;
  bytes: Buffer;
}

/** Why this file cannot serve as the stack's SSH key, or null. Pure. */
export function keyFileProblem(f: KeyFacts): { why: string; fix: string } | null {
  if (!f.isFile) return { why: 'is not a regular file (a directory here is often left by an earlier container that mounted the missing file)', fix: 'remove it and put the private key there' };
  if ((f.mode & 0o077) !== 0) return { why: `is readable by others (mode ${(f.mode & 0o777).toString(8).padStart(3, '0')}): a private key must be private`, fix: 'chmod 600 it' };
  const parsed = ssh2.utils.parseKey(f.bytes);
  if (parsed instanceof Error) {
    const encrypted = /encrypted|passphrase/i.test(parsed.message);
    return encrypted
      ? { why: 'is protected by a passphrase: the scheduler has no one to ask for it', fix: 'use a key without a passphrase made for backups only (ssh-keygen -t ed25519 -N "" -f FILE), allowed only this directory on the remote' }
      : { why: `is not an SSH private key (${parsed.message})`, fix: 'point backups.remote.identityFile at the private half (not the .pub)' };
  }
  if (!parsed.isPrivateKey()) return { why: 'is a public key', fix: 'point backups.remote.identityFile at the private half (the file without .pub)' };
  return null;
}

/** `file:line:col` of backups.remote.identityFile in the config file, for messages. */
async function located(loaded: LoadedConfig): Promise<string> {
  try {
    const lc = new LineCounter();
    const doc = parseDocument(await readFile(loaded.file, 'utf8'), { lineCounter: lc });
    const node = doc.getIn(['backups', 'remote', 'identityFile'], true) as { range?: [number, number, number] } | undefined;
    if (node?.range) {
      const p = lc.linePos(node.range[0]);
      return `${loaded.file}:${p.line}:${p.col}`;
    }
  } catch {
    // The config was loaded already; a second read failing only loses the position.
  }
  return loaded.file;
}

/** Reads the key for the SFTP store (the scheduler does this before dropping root). */
export async function readIdentityKey(file: string, from: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new UserError(`backups.remote.identityFile: cannot read ${file}${from}: ${errorMessage(err)}`, {
      hint: 'the key must be a file readable by the user that starts `modelship schedule` (root in the db-backup container; it drops to uid 1000 only after reading it)',
      exitCode: 2,
    });
  }
}

/**
 * Before deploy changes anything: the key the config names exists, is a private SSH key, is
 * readable here and by no one else. A missing file would otherwise become an empty directory (the
 * engine creates a missing bind source) and the first copy would fail at night, in a log.
 */
export async function checkIdentityFile(loaded: LoadedConfig): Promise<{ file: string; bytes: Buffer } | null> {
  const rel = stackIdentityFile(loaded.config);
  if (!rel) return null;
  const file = path.resolve(loaded.dir, rel);
  let facts: KeyFacts;
  try {
    const fh = await open(file, 'r');
    try {
      const st = await fh.stat();
      facts = { isFile: st.isFile(), mode: st.mode, bytes: st.isFile() ? await fh.readFile() : Buffer.alloc(0) };
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read by this user' : code === 'EISDIR' ? 'is a directory' : errorMessage(err);
    throw new UserError(`${await located(loaded)}: backups.remote.identityFile ${file} ${why}; nothing was changed`, {
      hint: code === 'ENOENT' ? `create a key for backups only: ssh-keygen -t ed25519 -N "" -f ${file}, and add ${file}.pub to the remote user's authorized_keys` : 'run deploy as a user that can read the key (db-backup reads it as root), or fix the path',
      exitCode: 2,
    });
  }
  const problem = keyFileProblem(facts);
  if (problem) throw new UserError(`${await located(loaded)}: backups.remote.identityFile ${file} ${problem.why}; nothing was changed`, { hint: problem.fix, exitCode: 2 });
  return { file, bytes: facts.bytes };
}
