/** The record of the last restore rehearsal (`restore --to-latest --verify-only`), read by doctor and status. */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../../../util/fs-atomic.ts';

export const RehearsalSchema = z.object({
  at: z.iso.datetime(),
  ok: z.boolean(),
  base: z.string(),
  target: z.string(),
  recoveredTo: z.string().nullable(),
  tables: z.int().nonnegative(),
  durationMs: z.number().nonnegative(),
  error: z.string().optional(),
});
export type Rehearsal = z.infer<typeof RehearsalSchema>;

export async function readRehearsal(file: string): Promise<Rehearsal | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const r = RehearsalSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

export async function writeRehearsal(file: string, r: Rehearsal): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(r, null, 2)}\n`);
}

/** doctor: pass within `maxAgeDays`, warn past it or when there is none, fail when the last one failed. Pure. */
export function judgeRehearsal(r: Rehearsal | null, maxAgeDays: number, now: Date): { status: 'pass' | 'warn' | 'fail'; why: string } {
  if (!r) return { status: 'warn', why: 'no restore rehearsal yet: run `modelship restore --to-latest --verify-only`' };
  const ageDays = (now.getTime() - Date.parse(r.at)) / 86_400_000;
  const age = ageDays < 1 ? `${Math.round(ageDays * 24)}h` : `${ageDays.toFixed(1)} days`;
  if (!r.ok) return { status: 'fail', why: `the last rehearsal (${r.at}, ${age} ago) failed: ${r.error ?? 'unknown'}` };
  if (ageDays > maxAgeDays) return { status: 'warn', why: `the last rehearsal passed ${age} ago (older than ${maxAgeDays} days): run \`modelship restore --to-latest --verify-only\`` };
  return { status: 'pass', why: `rehearsed ${age} ago from base ${r.base}, recovered to ${r.recoveredTo ?? 'the end of the archive'} (${r.tables} tables)` };
}
