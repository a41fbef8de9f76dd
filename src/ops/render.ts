/**
 * Writes rendered files to a directory, or checks that the directory matches (drift detection).
 * A manifest of what was rendered lets a later render remove files the config no longer produces.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RenderedFile } from '../render/types.ts';
import { writeFileAtomic } from '../util/fs-atomic.ts';

export const MANIFEST = '.modelship-rendered';

export interface RenderReport {
  outDir: string;
  files: Array<{ path: string; status: 'created' | 'updated' | 'unchanged' | 'removed' | 'differs' | 'missing' | 'stale' }>;
  changed: boolean;
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function previousManifest(outDir: string): Promise<string[]> {
  const text = await readOrNull(path.join(outDir, MANIFEST));
  return text ? text.split('\n').filter((l) => l && !l.startsWith('#')) : [];
}

function manifestText(files: RenderedFile[]): string {
  return `# files written by \`modelship render\`; a later render removes those it no longer produces\n${files.map((f) => f.path).join('\n')}\n`;
}

/**
 * `preserve`: paths another operation manages once they exist (nginx's upstream file, which swap
 * and deploy point at the live API containers): written when missing, otherwise left alone.
 */
export async function writeRendered(files: RenderedFile[], outDir: string, preserve: readonly string[] = []): Promise<RenderReport> {
  const report: RenderReport = { outDir, files: [], changed: false };
  const before = await previousManifest(outDir);
  for (const f of files) {
    const target = path.join(outDir, f.path);
    const current = await readOrNull(target);
    if (current !== null && preserve.includes(f.path)) {
      report.files.push({ path: f.path, status: 'unchanged' });
      continue;
    }
    const mode = f.mode ?? 0o644;
    let modeDiffers = false;
    if (current !== null) modeDiffers = ((await stat(target)).mode & 0o777) !== mode;
    if (current === f.content && !modeDiffers) {
      report.files.push({ path: f.path, status: 'unchanged' });
      continue;
    }
    await writeFileAtomic(target, f.content, mode);
    report.files.push({ path: f.path, status: current === null ? 'created' : 'updated' });
    report.changed = true;
  }
  const now = new Set(files.map((f) => f.path));
  for (const old of before) {
    if (now.has(old) || old.includes('..') || path.isAbsolute(old)) continue;
    await rm(path.join(outDir, old), { force: true });
    report.files.push({ path: old, status: 'removed' });
    report.changed = true;
  }
  const manifest = manifestText(files);
  if ((await readOrNull(path.join(outDir, MANIFEST))) !== manifest) await writeFileAtomic(path.join(outDir, MANIFEST), manifest);
  return report;
}

export async function checkRendered(files: RenderedFile[], outDir: string): Promise<RenderReport> {
  const report: RenderReport = { outDir, files: [], changed: false };
  for (const f of files) {
    const current = await readOrNull(path.join(outDir, f.path));
    const status = current === null ? 'missing' : current === f.content ? 'unchanged' : 'differs';
    report.files.push({ path: f.path, status });
    if (status !== 'unchanged') report.changed = true;
  }
  const now = new Set(files.map((f) => f.path));
  for (const old of await previousManifest(outDir)) {
    if (now.has(old)) continue;
    if ((await readOrNull(path.join(outDir, old))) !== null) {
      report.files.push({ path: old, status: 'stale' });
      report.changed = true;
    }
  }
  return report;
}
