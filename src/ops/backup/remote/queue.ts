/**
 * The durable upload queue: one small JSON file per pending copy under `<backups.dir>/.remote/queue`,
 * written atomically, removed only once the copy is verified on the remote. A crash, a restart or a
 * remote that is down for days loses nothing: the next run finds the entries (and the scan re-finds
 * any file that never got one). `uploaded.log` lists what is already off-site.
 */
import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../../util/fs-atomic.ts';
import { queueFileName, type RemoteKind } from './catalog.ts';

export const REMOTE_STATE_DIR = '.remote';

const EntrySchema = z.object({
  rel: z.string().min(1),
  kind: z.enum(['dump', 'base', 'wal']),
  /** The local file or directory, relative to the backup directory. */
  local: z.string().min(1),
  enqueuedAt: z.iso.datetime(),
  attempts: z.int().nonnegative(),
  nextAttemptAt: z.iso.datetime(),
  lastError: z.string().optional(),
  /** The `.partial` segment's size and mtime when queued (it is re-copied when they change). */
  version: z.string().optional(),
});

export type QueueEntry = z.infer<typeof EntrySchema> & { file: string };

export interface RemoteState {
  root: string;
  queue: string;
  staging: string;
  ledger: string;
  /** Which version of the `.partial` segment is off-site. */
  partial: string;
}

export function remoteState(backupDir: string): RemoteState {
  const root = path.join(backupDir, REMOTE_STATE_DIR);
  return { root, queue: path.join(root, 'queue'), staging: path.join(root, 'staging'), ledger: path.join(root, 'uploaded.log'), partial: path.join(root, 'partial.json') };
}

export async function readQueue(s: RemoteState): Promise<QueueEntry[]> {
  const out: QueueEntry[] = [];
  for (const f of (await readdir(s.queue).catch(() => [] as string[])).sort()) {
    if (!f.endsWith('.json')) continue;
    const text = await readFile(path.join(s.queue, f), 'utf8').catch(() => null);
    if (text === null) continue;
    try {
      const r = EntrySchema.safeParse(JSON.parse(text));
      if (r.success) out.push({ ...r.data, file: f });
    } catch {
      // A torn write cannot happen (atomic rename); anything unreadable is skipped, the scan re-adds it.
    }
  }
  return out;
}

export async function enqueue(s: RemoteState, e: { rel: string; kind: RemoteKind; local: string; version?: string }, now: Date): Promise<QueueEntry> {
  await mkdir(s.queue, { recursive: true });
  const entry = { ...e, enqueuedAt: now.toISOString(), attempts: 0, nextAttemptAt: now.toISOString() };
  const file = queueFileName(now.getTime(), e.rel);
  await writeFileAtomic(path.join(s.queue, file), `${JSON.stringify(entry)}\n`);
  return { ...entry, file };
}

export async function updateEntry(s: RemoteState, e: QueueEntry): Promise<void> {
  const { file, ...rest } = e;
  await writeFileAtomic(path.join(s.queue, file), `${JSON.stringify(rest)}\n`);
}

export async function removeEntry(s: RemoteState, e: QueueEntry): Promise<void> {
  await rm(path.join(s.queue, e.file), { force: true });
}

export async function readLedger(s: RemoteState): Promise<Set<string>> {
  const text = await readFile(s.ledger, 'utf8').catch(() => '');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const rel = line.split('\t')[0];
    if (rel) out.add(rel);
  }
  return out;
}

export async function recordUploaded(s: RemoteState, rel: string, sha256: string, at: Date): Promise<void> {
  await mkdir(s.root, { recursive: true });
  await appendFile(s.ledger, `${rel}\t${sha256}\t${at.toISOString()}\n`);
}

export async function readPartialState(s: RemoteState): Promise<{ rel: string; version: string } | null> {
  const text = await readFile(s.partial, 'utf8').catch(() => null);
  if (!text) return null;
  try {
    const v = JSON.parse(text) as { rel?: unknown; version?: unknown };
    return typeof v.rel === 'string' && typeof v.version === 'string' ? { rel: v.rel, version: v.version } : null;
  } catch {
    return null;
  }
}

export async function writePartialState(s: RemoteState, rel: string, version: string): Promise<void> {
  await mkdir(s.root, { recursive: true });
  await writeFileAtomic(s.partial, `${JSON.stringify({ rel, version })}\n`);
}
