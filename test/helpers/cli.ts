/** Runs the CLI in-process with captured stdout/stderr. */
import { main } from '../../src/cli/main.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'modelship', ...args], {
    streams: {
      stdout: { write: (s: string) => ((stdout += s), true), isTTY: false },
      stderr: { write: (s: string) => ((stderr += s), true), isTTY: false },
    },
    env: { NO_COLOR: '1', ...(opts.env ?? {}) },
    cwd: opts.cwd ?? process.cwd(),
  });
  return { code, stdout, stderr };
}
