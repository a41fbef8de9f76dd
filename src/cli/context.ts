import path from 'node:path';
import type { Command } from 'commander';
import { UserError, errorMessage } from '../util/errors.ts';
import { colorWanted, createOutput, type GlobalOptions, type Output, type OutputStreams } from './output.ts';

export interface CommandContext {
  global: GlobalOptions;
  out: Output;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface RunEnvironment {
  streams: OutputStreams;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Set by `action()` to the command's exit code. */
  exitCode: number;
}

export type Action<A extends unknown[]> = (ctx: CommandContext, ...args: A) => Promise<number | void>;

/**
 * Wraps a command's handler: builds the context from the global options, runs it, turns a
 * `UserError` into a message and its exit code, and any other error into a one-line report
 * (the stack only with MODELSHIP_DEBUG=1).
 */
export function action<A extends unknown[]>(runEnv: RunEnvironment, fn: Action<A>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const raw = cmd.optsWithGlobals() as Record<string, unknown>;
    const global = globalOptions(raw, runEnv);
    const out = createOutput(
      { json: global.json, color: colorWanted(global.color, runEnv.env, runEnv.streams.stderr) },
      runEnv.streams,
    );
    try {
      const code = await fn({ global, out, env: runEnv.env, cwd: runEnv.cwd }, ...(args.slice(0, -1) as A));
      runEnv.exitCode = code ?? 0;
    } catch (err) {
      runEnv.exitCode = reportError(err, out, runEnv.env);
    }
  };
}

export function reportError(err: unknown, out: Output, env: NodeJS.ProcessEnv): number {
  if (err instanceof UserError) {
    if (out.json) {
      out.data({ ok: false, error: err.message, ...(err.hint ? { hint: err.hint } : {}), ...(err.details ? { details: err.details } : {}) });
    }
    out.error(err.message);
    if (err.hint) out.info(`  ${out.c.dim('hint:')} ${err.hint}`);
    return err.exitCode;
  }
  out.error(`unexpected failure: ${errorMessage(err)}`);
  if (env.MODELSHIP_DEBUG === '1' && err instanceof Error && err.stack) out.info(err.stack);
  else out.info('  run again with MODELSHIP_DEBUG=1 for the stack trace, and report it if it looks like a bug');
  return 1;
}

function globalOptions(raw: Record<string, unknown>, runEnv: RunEnvironment): GlobalOptions {
  const configRaw = (raw.config as string | undefined) ?? runEnv.env.MODELSHIP_CONFIG ?? 'modelship.config.yaml';
  const config = path.resolve(runEnv.cwd, configRaw);
  const envFile = raw.envFile === undefined ? undefined : path.resolve(runEnv.cwd, String(raw.envFile));
  return {
    config,
    envFile,
    json: raw.json === true,
    color: raw.color !== false,
    yes: raw.yes === true,
  };
}
