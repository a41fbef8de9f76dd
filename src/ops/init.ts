/**
 * `modelship init`: a commented config sized for this machine, its JSON Schema for editors, and a
 * `.env` with freshly generated secrets (mode 0600). Never overwrites without `force`.
 */
import { randomBytes } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatDotenv } from '../config/dotenv.ts';
import { configJsonSchema } from '../config/schema.ts';
import { fillConfigTemplate, sizeForCores, type Sizing } from '../config/sizing.ts';
import { UserError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs-atomic.ts';
import { templatePath } from '../util/paths.ts';

export interface InitOptions {
  dir: string;
  force: boolean;
  cores?: number;
}

export interface InitResult {
  dir: string;
  files: Array<{ path: string; mode: string }>;
  cores: number;
  sizing: Sizing;
}

export const CONFIG_NAME = 'modelship.config.yaml';
export const SCHEMA_NAME = 'modelship.schema.json';

/** 32 random bytes, URL-safe base64 without padding. */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function schemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

export async function configTemplate(cores: number): Promise<string> {
  return fillConfigTemplate(await readFile(templatePath(CONFIG_NAME), 'utf8'), cores);
}

export function envText(): string {
  return formatDotenv([
    { comment: 'Secrets for modelship. Keep this file private (mode 0600) and out of version control.' },
    { comment: 'The config names these keys under `secrets:`; values never appear in rendered files.' },
    ['SECRET_KEY', generateSecret(32)],
    ['POSTGRES_PASSWORD', generateSecret(24)],
    ['REDIS_PASSWORD', generateSecret(24)],
    ['GRAFANA_ADMIN_PASSWORD', generateSecret(18)],
    ['REPLICATION_PASSWORD', generateSecret(24)],
  ]);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

export async function initProject(opts: InitOptions): Promise<InitResult> {
  const cores = opts.cores ?? os.availableParallelism();
  const targets = [CONFIG_NAME, '.env', SCHEMA_NAME].map((n) => path.join(opts.dir, n));
  if (!opts.force) {
    const present = [];
    for (const t of targets.slice(0, 2)) if (await exists(t)) present.push(t);
    if (present.length > 0) {
      throw new UserError(`refusing to overwrite ${present.join(' and ')}`, {
        hint: 'pass --force to replace them (the old secrets in .env are lost), or use another --dir',
      });
    }
  }
  const [configFile, envFile, schemaFile] = targets as [string, string, string];
  await writeFileAtomic(configFile, await configTemplate(cores), 0o644);
  await writeFileAtomic(envFile, envText(), 0o600);
  await writeFileAtomic(schemaFile, schemaText(), 0o644);
  return {
    dir: opts.dir,
    cores,
    sizing: sizeForCores(cores),
    files: [
      { path: configFile, mode: '0644' },
      { path: envFile, mode: '0600' },
      { path: schemaFile, mode: '0644' },
    ],
  };
}
