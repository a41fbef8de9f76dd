/**
 * Encryption at rest of the WAL archive: every complete segment pg_receivewal leaves is replaced by
 * its age ciphertext (`<segment>.age`). The segment it is still filling (`.partial`) stays plain,
 * necessarily: pg_receivewal appends to it. Timeline history files stay plain too (a few LSNs, no
 * row data; the restore planner reads them without the key).
 *
 * pg_receivewal finds where to resume from the segments in its directory, which no longer include
 * sealed ones: it resumes from the `.partial` it keeps, or, when there is none, from the replication
 * slot's restart_lsn (READ_REPLICATION_SLOT, pg_receivewal and servers 15+; the tools must be the
 * server's major or newer, and modelship's postgres is 16), so sealing leaves no gap.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../../../util/errors.ts';
import { pidAlive } from '../../../util/process.ts';
import { parseSealTemp, sealFile } from '../encryption.ts';
import { parseSegmentName } from './wal.ts';

export interface SealPlan {
  /** Complete plain segments to encrypt. */
  seal: string[];
  /** Plain segments whose `.age` is already complete (a crash between the rename and the removal). */
  drop: string[];
}

/** Pure: what a sealing pass does with the archive's file names. */
export function planSeal(files: readonly string[]): SealPlan {
  const names = new Set(files);
  const out: SealPlan = { seal: [], drop: [] };
  for (const f of [...files].sort()) {
    const s = parseSegmentName(f);
    if (!s || s.partial || s.encrypted) continue;
    (names.has(`${f}.age`) ? out.drop : out.seal).push(f);
  }
  return out;
}

/** One pass over the archive: seals every complete segment; returns the names sealed. */
export async function sealCompletedWal(walDir: string, recipients: readonly string[]): Promise<string[]> {
  if (recipients.length === 0) return [];
  const files = await readdir(walDir).catch(() => [] as string[]);
  for (const f of files) {
    const t = parseSealTemp(f);
    if (t && t.pid !== process.pid && !pidAlive(t.pid)) await rm(path.join(walDir, f), { force: true });
  }
  const plan = planSeal(files);
  for (const f of plan.drop) await rm(path.join(walDir, f), { force: true });
  for (const f of plan.seal) await sealFile(path.join(walDir, f), recipients);
  return plan.seal;
}

/**
 * Seals the archive every `intervalMs` (and once more on stop) while the receiver streams. A failed
 * pass is logged and retried on the next tick: the plain segment stays until it is sealed.
 */
export function startWalSealer(walDir: string, recipients: readonly string[], log: (entry: Record<string, unknown>) => void, intervalMs = 1000): { stop: () => Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  let lastError = '';
  const pass = () => {
    running = running.then(async () => {
      try {
        await sealCompletedWal(walDir, recipients);
        lastError = '';
      } catch (err) {
        const msg = errorMessage(err);
        if (msg !== lastError) log({ level: 'error', event: 'wal encryption failed', error: msg, hint: 'the segment stays unencrypted until a pass succeeds: check the backup disk' });
        lastError = msg;
      }
    });
  };
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      pass();
      await running;
    },
  };
}
