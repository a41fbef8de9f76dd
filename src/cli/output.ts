import { Chalk, type ChalkInstance } from 'chalk';

/** Global options every command accepts (see README "Global options"). */
export interface GlobalOptions {
  config: string;
  envFile?: string | undefined;
  json: boolean;
  color: boolean;
  yes: boolean;
}

/**
 * Where a command writes: data to stdout, diagnostics to stderr, colour only when wanted.
 * Commands never call console.* directly, so `--json` output stays clean and tests can capture it.
 */
export interface Output {
  readonly json: boolean;
  readonly c: ChalkInstance;
  /** Data for stdout (a line of text). */
  out(line: string): void;
  /** A JSON document on stdout. */
  data(value: unknown): void;
  /** A diagnostic line on stderr. */
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
}

export interface OutputStreams {
  stdout: { write(chunk: string): unknown; isTTY?: boolean };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
}

export function colorWanted(flag: boolean, env: NodeJS.ProcessEnv, stream: { isTTY?: boolean }): boolean {
  if (!flag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

export function createOutput(opts: { json: boolean; color: boolean }, streams: OutputStreams): Output {
  const c = new Chalk({ level: opts.color ? 1 : 0 });
  return {
    json: opts.json,
    c,
    out: (line) => void streams.stdout.write(`${line}\n`),
    data: (value) => void streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    info: (line) => void streams.stderr.write(`${line}\n`),
    warn: (line) => void streams.stderr.write(`${c.yellow('warning:')} ${line}\n`),
    error: (line) => void streams.stderr.write(`${c.red('error:')} ${line}\n`),
  };
}
