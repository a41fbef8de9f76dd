/**
 * Reads the config file and its `.env` from disk and analyzes them. The only I/O in src/config.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { analyzeConfig, type Analysis, type AnalyzeOptions, type Problem } from './analyze.ts';
import type { Config } from './schema.ts';

export interface LoadedConfig {
  config: Config;
  file: string;
  /** Directory of the config file: relative paths in the config resolve against it. */
  dir: string;
  envFile: string;
  env: Record<string, string>;
  warnings: Problem[];
}

export function defaultEnvFile(configFile: string): string {
  return path.join(path.dirname(configFile), '.env');
}

export async function analyzeConfigFile(file: string, envFile?: string, opts: AnalyzeOptions = {}): Promise<Analysis & { file: string; envFile: string }> {
  const envPath = envFile ?? defaultEnvFile(file);
  let source: Buffer;
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw new UserError(`${file} is a directory, not a config file`, { hint: 'pass the YAML file with --config' });
    source = await readFile(file);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError(`config file not found: ${file}`, { hint: 'run `modelship init` to write one, or pass --config FILE (or set MODELSHIP_CONFIG)' });
    }
    throw new UserError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let envText: string | null = null;
  try {
    envText = await readFile(envPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserError(`cannot read ${envPath}: ${(err as Error).message}`);
  }
  const rel = path.relative(process.cwd(), file) || file;
  const relEnv = path.relative(process.cwd(), envPath) || envPath;
  const analysis = analyzeConfig(source, rel.startsWith('..') ? file : rel, { file: relEnv.startsWith('..') ? envPath : relEnv, text: envText }, opts);
  return { ...analysis, file, envFile: envPath };
}

/** Loads a valid config or throws a UserError listing every problem. */
export async function loadConfig(file: string, envFile?: string, processEnv: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const a = await analyzeConfigFile(file, envFile, { lenientUnknownKeys: processEnv.MODELSHIP_CONFIG_LENIENT === '1' });
  const errors = a.problems.filter((p) => p.severity === 'error');
  if (!a.config || errors.length > 0) {
    throw new UserError(`${errors.length} problem${errors.length === 1 ? '' : 's'} in the config:\n${errors.map((e) => formatProblem(e)).join('\n')}`, {
      hint: 'fix them and run `modelship config validate`',
      details: { problems: errors },
    });
  }
  // Inside the stack's containers the secrets arrive as environment variables (env_file), not as
  // a file: take them from the process environment when the file does not have them.
  const env = { ...a.env };
  const secretKeys = Object.values(a.config.secrets);
  for (const key of secretKeys) if (env[key] === undefined && processEnv[key] !== undefined) env[key] = processEnv[key];
  const envMissing = (p: Problem): boolean => p.severity === 'warning' && p.path === '' && p.message.startsWith('no secrets file');
  const fromProcess = secretKeys.every((k) => processEnv[k] !== undefined);
  return {
    config: a.config,
    file,
    dir: path.dirname(file),
    envFile: a.envFile,
    env,
    warnings: a.problems.filter((p) => p.severity === 'warning' && !(fromProcess && envMissing(p))),
  };
}

export function formatProblem(p: Problem, withSeverity = true): string {
  const loc = `${p.file}:${p.line}:${p.col}`;
  const lines = [`${loc}: ${withSeverity ? `${p.severity}: ` : ''}${p.message}`];
  if (p.hint) lines.push(`    hint: ${p.hint}`);
  return lines.join('\n');
}
