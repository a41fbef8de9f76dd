/**
 * Finding the real checkers (nginx, promtool, openssl) for integration tests. A test skips with a
 * message naming the missing tool and how to get it; it never passes without running the tool.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CANDIDATES: Record<string, string[]> = {
  nginx: ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx'],
  promtool: ['/usr/bin/promtool', '/usr/local/bin/promtool'],
  openssl: ['/usr/bin/openssl', '/usr/local/bin/openssl'],
};

/** Absolute path of `tool`, or null when it is not installed. */
export function findTool(tool: string): string | null {
  for (const p of CANDIDATES[tool] ?? []) if (existsSync(p)) return p;
  const which = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? found : null;
}

/** A `skip` reason when a tool is missing, for `test(name, { skip }, fn)`. */
export function skipUnless(...tools: string[]): string | false {
  const missing = tools.filter((t) => findTool(t) === null);
  return missing.length === 0 ? false : `SKIPPED: ${missing.join(', ')} not installed (scripts/test-deps.sh installs it)`;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(tool: string, args: string[], cwd?: string): RunResult {
  const bin = findTool(tool);
  if (!bin) throw new Error(`${tool} not installed`);
  const r = spawnSync(bin, args, { encoding: 'utf8', cwd });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
