/**
 * Configs for render tests: the sample config (templates/modelship.config.yaml, sized for 4 cores)
 * and variants of it built by overriding keys. Everything goes through the real schema.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { analyzeConfig } from '../../src/config/analyze.ts';
import { ConfigSchema, type Config, type ConfigInput } from '../../src/config/schema.ts';
import { fillConfigTemplate } from '../../src/config/sizing.ts';

export const SAMPLE_TEMPLATE = new URL('../../templates/modelship.config.yaml', import.meta.url);

/** The sample config text, filled for `cores` cores. */
export function sampleConfigText(cores = 4): string {
  return fillConfigTemplate(readFileSync(SAMPLE_TEMPLATE, 'utf8'), cores);
}

/** The sample config, validated the way `modelship render` validates it. */
export function sampleConfig(): Config {
  const { config, problems } = analyzeConfig(sampleConfigText(), 'modelship.config.yaml', null);
  if (!config) throw new Error(`sample config invalid: ${JSON.stringify(problems)}`);
  return config;
}

type Patch = { [key: string]: unknown };

function merge(base: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  if (base === null || typeof base !== 'object' || Array.isArray(base)) return patch;
  const out: Patch = { ...(base as Patch) };
  for (const [k, v] of Object.entries(patch as Patch)) out[k] = v === undefined ? undefined : merge(out[k], v);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** The sample config with `patch` deep-merged over it (an `undefined` value deletes a key). */
export function configWith(patch: Patch): Config {
  const raw = parse(sampleConfigText()) as ConfigInput;
  return ConfigSchema.parse(merge(raw, patch));
}

export const TLS_MODES = {
  letsencrypt: (): Config => sampleConfig(),
  custom: (): Config => configWith({ tls: { mode: 'custom', email: undefined, certFile: '/etc/ssl/m/fullchain.pem', keyFile: '/etc/ssl/m/privkey.pem' } }),
  off: (): Config => configWith({ tls: { mode: 'off', email: undefined } }),
} as const;
