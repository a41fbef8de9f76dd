/**
 * Turns the bytes of a config file (and of its `.env`) into either a validated `Config` or every
 * problem at once, each located at `file:line:col` with the key path, what was expected and what was
 * found. Pure: the caller reads the files.
 */
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, type Config } from './schema.ts';
import { parseDotenv } from './dotenv.ts';
import { closest } from './did-you-mean.ts';
import { parseSize } from '../util/size.ts';

export interface Problem {
  severity: 'error' | 'warning';
  file: string;
  line: number;
  col: number;
  /** Dotted key path, e.g. `api.workers`; empty for the whole file. */
  path: string;
  message: string;
  expected?: string;
  found?: string;
  hint?: string;
}

export interface EnvInput {
  file: string;
  /** null when the file does not exist. */
  text: string | null;
}

export interface Analysis {
  config: Config | null;
  problems: Problem[];
  /** Keys and values from `.env` (values never printed). */
  env: Record<string, string>;
}

const SECRETISH = /(password|passwd|secret|token|api[_-]?key|private[_-]?key|credential)s?$/i;

export interface AnalyzeOptions {
  /** Drop unknown keys with a warning (for the machine-written config inside containers). */
  lenientUnknownKeys?: boolean;
}

/** The .env values, with a warning when there is no file and an error per unreadable line. */
function readEnv(envInput: EnvInput, problems: Problem[]): Record<string, string> {
  if (envInput.text === null) {
    problems.push({
      severity: 'warning', file: envInput.file, line: 1, col: 1, path: '',
      message: `no secrets file at ${envInput.file}: the stack will not start without it`,
      hint: 'run `modelship init` to generate one, or pass --env-file',
    });
    return {};
  }
  const parsed = parseDotenv(envInput.text);
  for (const p of parsed.problems) {
    problems.push({ severity: 'error', file: envInput.file, line: p.line, col: p.col, path: '', message: p.message });
  }
  return parsed.values;
}

export function analyzeConfig(source: Buffer | string, file: string, envInput: EnvInput | null, opts: AnalyzeOptions = {}): Analysis {
  const problems: Problem[] = [];
  const at = (line: number, col: number, path: string, message: string, extra: Partial<Problem> = {}): void => {
    problems.push({ severity: 'error', file, line, col, path, message, ...extra });
  };

  const text = decodeText(source);
  if (text === null) {
    at(1, 1, '', 'the file is not UTF-8 text (binary data?)', { expected: 'a YAML text file', found: 'binary data', hint: 'point --config at modelship.config.yaml, or run `modelship init` to write one' });
    return { config: null, problems, env: {} };
  }
  if (text.trim() === '' || isOnlyComments(text)) {
    at(1, 1, '', 'the config file is empty', { expected: 'a YAML mapping of settings', found: 'nothing', hint: 'run `modelship init` to write a commented config' });
    return { config: null, problems, env: {} };
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  for (const err of doc.errors) {
    const pos = err.linePos?.[0] ?? lineCounter.linePos(err.pos[0]);
    const hint = yamlHint(err.code, text, pos.line, err.message);
    at(pos.line, pos.col, '', yamlMessage(err.code, err.message, text, err.pos[0]), hint ? { hint } : {});
  }
  if (doc.errors.length > 0) return { config: null, problems, env: {} };

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Alias expansion bombs ("billion laughs") and other documents that cannot be materialised.
    at(1, 1, '', `the YAML cannot be read: ${(err as Error).message}`, { hint: 'the config needs no anchors or aliases (&name / *name); write the values out' });
    return { config: null, problems, env: {} };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const pos = lineCounter.linePos(doc.contents?.range?.[0] ?? 0);
    at(pos.line, pos.col, '', 'the top level must be a mapping of settings', { expected: 'a mapping (key: value lines)', found: describe(data) });
    return { config: null, problems, env: {} };
  }

  const locate = (path: PropertyKey[], key?: string): { line: number; col: number } => {
    const offset = offsetOf(doc, path, key);
    return lineCounter.linePos(offset);
  };

  let result = ConfigSchema.safeParse(data, { reportInput: true });
  if (!result.success && opts.lenientUnknownKeys) {
    // A resolved config written by a newer modelship, read by an older image (a rollback): keys
    // this version does not know are dropped with a warning instead of refusing to start.
    const unknown = result.error.issues.filter((i) => i.code === 'unrecognized_keys');
    for (const issue of unknown) {
      let target: unknown = data;
      for (const seg of issue.path) target = (target as Record<PropertyKey, unknown> | undefined)?.[seg as string];
      for (const key of issue.keys) {
        if (target && typeof target === 'object') delete (target as Record<string, unknown>)[key];
        const { line, col } = locate(issue.path, key);
        problems.push({ severity: 'warning', file, line, col, path: [...issue.path.map(String), key].join('.'), message: `ignoring \`${key}\`: not known to this version of modelship` });
      }
    }
    if (unknown.length > 0) result = ConfigSchema.safeParse(data, { reportInput: true });
  }
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(...issueProblems(issue, file, locate));
    }
  }

  // .env: secrets by reference must resolve.
  const env = envInput ? readEnv(envInput, problems) : {};

  if (!result.success) return { config: null, problems, env };
  const config = result.data;
  problems.push(...semanticProblems(config, file, locate, envInput, env, (p) => doc.hasIn(p)));
  return { config: problems.some((p) => p.severity === 'error') ? null : config, problems, env };
}

// ---------------------------------------------------------------------------------------------

type Locate = (path: PropertyKey[], key?: string) => { line: number; col: number };

function issueProblems(issue: z.core.$ZodIssue, file: string, locate: Locate): Problem[] {
  const path = issue.path;
  const dotted = path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const { line, col } = locate(path, key);
      const known = knownKeys(path);
      const suggestion = closest(key, known);
      const fullPath = [...path.map(String), key].join('.');
      let hint: string | undefined;
      if (SECRETISH.test(key)) {
        hint = 'secrets are never written in the config: put the value in .env and name its key under `secrets:`';
      } else if (suggestion) {
        hint = `did you mean \`${suggestion}\`?`;
      } else if (known.length > 0) {
        hint = `known keys here: ${known.join(', ')}`;
      }
      return {
        severity: 'error' as const, file, line, col, path: fullPath,
        message: `unknown key \`${key}\`${dotted ? ` in \`${dotted}\`` : ''}`,
        ...(hint ? { hint } : {}),
      };
    });
  }
  const { line, col } = locate(path);
  if (issue.code === 'custom') {
    // Cross-field rules: the message already says what is needed and why.
    const missing = 'input' in issue && issue.input !== undefined && typeof issue.input === 'object';
    return [{
      severity: 'error', file, line, col, path: dotted,
      message: missing ? `\`${dotted}\` is required: ${issue.message.replace(/^an? [^:]+: /, '')}` : `\`${dotted || '(top level)'}\`: expected ${issue.message}${'input' in issue && issue.input !== undefined ? `, found ${describe(issue.input)}` : ''}`,
      expected: issue.message,
    }];
  }
  const found = 'input' in issue ? describe(issue.input) : undefined;
  const custom = !/^(Invalid|Too (small|big))/.test(issue.message);
  let expected = issue.message;
  if (!custom && issue.code === 'invalid_type') {
    expected = issue.input === undefined ? `a value (${issue.expected})` : article(issue.expected);
  } else if (!custom && issue.code === 'invalid_value') {
    expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  } else if (issue.code === 'invalid_value') {
    expected = `${issue.message} (one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')})`;
  } else if (!custom && issue.code === 'too_small') {
    expected = issue.origin === 'array' ? `at least ${String(issue.minimum)} item(s)` : `${issue.inclusive === false ? 'more than' : 'at least'} ${String(issue.minimum)}`;
  } else if (!custom && issue.code === 'too_big') {
    expected = issue.origin === 'array' ? `at most ${String(issue.maximum)} item(s)` : `${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}`;
  }
  const isMissing = issue.code === 'invalid_type' && issue.input === undefined;
  return [{
    severity: 'error', file, line, col, path: dotted,
    message: isMissing ? `\`${dotted}\` is required` : `\`${dotted || '(top level)'}\`: expected ${expected}${found !== undefined ? `, found ${found}` : ''}`,
    expected,
    ...(found !== undefined ? { found } : {}),
  }];
}

function article(type: string): string {
  const map: Record<string, string> = { int: 'an integer', number: 'a number (integer where the key counts things)', string: 'a string', boolean: 'true or false', array: 'a list', object: 'a mapping' };
  return map[type] ?? type;
}

/** Known keys of the object schema at a path, for did-you-mean. */
export function knownKeys(path: PropertyKey[]): string[] {
  let schema: z.core.$ZodType | undefined = ConfigSchema;
  for (const seg of path) {
    schema = unwrap(schema);
    const shape = objectShape(schema);
    if (!shape) return [];
    schema = shape[String(seg)];
    if (!schema) return [];
  }
  const shape = objectShape(unwrap(schema));
  return shape ? Object.keys(shape) : [];
}

function unwrap(schema: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  let s = schema;
  for (let i = 0; i < 10 && s; i++) {
    const def = s._zod.def as unknown as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType) s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else break;
  }
  return s;
}

function objectShape(schema: z.core.$ZodType | undefined): Record<string, z.core.$ZodType> | null {
  if (!schema) return null;
  const def = schema._zod.def as unknown as { type: string; shape?: Record<string, z.core.$ZodType> };
  return def.type === 'object' && def.shape ? def.shape : null;
}

/** Source offset of the node at a path (or of one of its keys); falls back to the nearest parent. */
function offsetOf(doc: Document, path: PropertyKey[], key?: string): number {
  const segs = path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  for (let n = segs.length; n >= 0; n--) {
    const node = doc.getIn(segs.slice(0, n), true) as YamlNode | undefined;
    if (!node) continue;
    if (n === segs.length && key !== undefined && isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === key);
      if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
    }
    if (n < segs.length && isMap(node)) {
      // Missing key: point at the parent mapping's key line if possible.
      const parentPair = n > 0 ? findPair(doc, segs.slice(0, n)) : undefined;
      if (parentPair) return parentPair;
    }
    if (n === segs.length && n > 0) {
      const keyOffset = findPair(doc, segs);
      // Point at the value for scalar problems (that is what is wrong).
      if (node.range) return node.range[0];
      if (keyOffset !== undefined) return keyOffset;
    }
    if (node.range) return node.range[0];
  }
  return 0;
}

function findPair(doc: Document, segs: (string | number)[]): number | undefined {
  const parent = doc.getIn(segs.slice(0, -1), true) as YamlNode | undefined;
  const last = segs[segs.length - 1];
  if (parent && isMap(parent)) {
    const pair = parent.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(last));
    if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
  }
  return undefined;
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value instanceof Uint8Array) return 'binary data (!!binary)';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value.length > 60 ? `${value.slice(0, 57)}...` : value}" (text)`;
  if (typeof value === 'number') return Number.isInteger(value) ? `${value} (an integer)` : `${value} (a number)`;
  if (typeof value === 'boolean') return `${value} (a boolean)`;
  return typeof value;
}

function decodeText(source: Buffer | string): string | null {
  if (typeof source === 'string') return source.includes('\u0000') ? null : source;
  if (source.includes(0)) return null;
  try {
    let text = new TextDecoder('utf-8', { fatal: true }).decode(source);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return text;
  } catch {
    return null;
  }
}

function isOnlyComments(text: string): boolean {
  return text.split(/\r?\n/).every((l) => l.trim() === '' || l.trim().startsWith('#') || l.trim() === '---' || l.trim() === '...');
}

function yamlMessage(code: string, message: string, text: string, offset: number): string {
  const first = message.split('\n')[0] ?? message;
  const cleaned = first.replace(/ at line \d+, column \d+:?$/, '');
  switch (code) {
    case 'DUPLICATE_KEY':
    {
      const key = /^\s*["']?([^"':#\n]+?)["']?\s*:/.exec(text.slice(offset, offset + 200))?.[1];
      return key ? `duplicate key \`${key}\`: it appears twice in the same mapping` : 'duplicate key: a key appears twice in the same mapping';
    }
    case 'TAB_AS_INDENT':
      return 'a tab is used for indentation; YAML indents with spaces';
    default:
      return `YAML syntax error: ${cleaned}`;
  }
}

function yamlHint(code: string, text: string, line: number, message = ''): string | undefined {
  if (code === 'DUPLICATE_KEY') return 'keep one of the two entries; YAML keeps neither reliably';
  const src = text.split(/\r?\n/)[line - 1] ?? '';
  if (code === 'TAB_AS_INDENT' || /^\s*\t/.test(src)) return 'replace the tabs at the start of the line with spaces';
  if (/:\S/.test(src) && !/https?:/.test(src)) return 'YAML needs a space after the colon in `key: value`';
  if (/quote/i.test(message)) return 'a quoted value on this line or an earlier one is not closed';
  if (/flow (sequence|mapping|collection)/i.test(code) || code === 'MISSING_CHAR' || code === 'BAD_INDENT') return 'a [ or { opened on an earlier line may be unclosed, or the indentation is off';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Checks that span several keys.

// Long because: a flat list of independent cross-field checks, each a few lines and commented; no step depends on another.
function semanticProblems(config: Config, file: string, locate: Locate, envInput: EnvInput | null, env: Record<string, string>, hasPath: (path: string[]) => boolean): Problem[] {
  const problems: Problem[] = [];
  const err = (path: string[], message: string, extra: Partial<Problem> = {}): void => {
    const { line, col } = locate(path);
    problems.push({ severity: 'error', file, line, col, path: path.join('.'), message, ...extra });
  };
  const warn = (path: string[], message: string, extra: Partial<Problem> = {}): void => {
    const { line, col } = locate(path);
    problems.push({ severity: 'warning', file, line, col, path: path.join('.'), message, ...extra });
  };

  // Published ports on the host must not clash.
  const published: Array<{ path: string[]; port: number; what: string }> = [
    { path: ['ports', 'http'], port: config.ports.http, what: 'nginx HTTP' },
    { path: ['ports', 'https'], port: config.ports.https, what: 'nginx HTTPS' },
    { path: ['monitoring', 'prometheus', 'port'], port: config.monitoring.prometheus.port, what: 'Prometheus' },
  ];
  if (config.postgres.publish) published.push({ path: ['postgres', 'port'], port: config.postgres.port, what: 'PostgreSQL' });
  if (config.redis.publish) published.push({ path: ['redis', 'port'], port: config.redis.port, what: 'Redis' });
  if (config.monitoring.grafana.enabled) published.push({ path: ['monitoring', 'grafana', 'port'], port: config.monitoring.grafana.port, what: 'Grafana' });
  if (config.monitoring.loki.enabled) published.push({ path: ['monitoring', 'loki', 'port'], port: config.monitoring.loki.port, what: 'Loki' });
  const seen = new Map<number, (typeof published)[number]>();
  for (const p of published) {
    const first = seen.get(p.port);
    if (first) {
      err(p.path, `port ${p.port} is published twice on the host: ${p.what} (${p.path.join('.')}) and ${first.what} (${first.path.join('.')})`, {
        expected: 'a port no other service publishes', found: String(p.port), hint: `change ${p.path.join('.')} to a free port`,
      });
    } else seen.set(p.port, p);
  }

  // Upload limits must be coherent.
  const fileBytes = parseSize(config.limits.maxFileSize);
  const requestBytes = parseSize(config.limits.maxRequestSize);
  if (fileBytes > requestBytes) {
    err(['limits', 'maxFileSize'], `limits.maxFileSize (${config.limits.maxFileSize}) is larger than limits.maxRequestSize (${config.limits.maxRequestSize}): no such file could ever be uploaded`, {
      expected: `at most ${config.limits.maxRequestSize}`, found: config.limits.maxFileSize,
    });
  }
  if (fileBytes < 1024) err(['limits', 'maxFileSize'], 'limits.maxFileSize is under 1KB: no image fits', { expected: 'at least 1KB', found: config.limits.maxFileSize });
  if (requestBytes > 10 * 1024 ** 3) err(['limits', 'maxRequestSize'], 'limits.maxRequestSize is over 10GB', { expected: 'at most 10GB', found: config.limits.maxRequestSize });
  if (config.rateLimit.burst < config.rateLimit.perMinute && config.rateLimit.enabled) {
    warn(['rateLimit', 'burst'], `rateLimit.burst (${config.rateLimit.burst}) is below rateLimit.perMinute (${config.rateLimit.perMinute}): clients can never use their full rate in one go`);
  }

  // Production safety.
  if (config.environment === 'production') {
    if (config.debug) warn(['debug'], 'debug is on in production: error responses will include internals', { hint: 'set debug: false' });
    if (config.cors.origins.includes('*')) warn(['cors', 'origins'], 'CORS allows every origin (*) in production', { hint: 'list the origins of your front ends instead' });
    if (config.tls.mode === 'off') warn(['tls', 'mode'], 'TLS is off in production: traffic and API keys travel in clear text', { hint: 'use tls.mode: letsencrypt' });
  }
  if (config.cors.origins.includes('*') && config.cors.credentials) {
    err(['cors', 'credentials'], 'cors.credentials cannot be true when cors.origins contains *: browsers refuse that combination', { hint: 'list explicit origins' });
  }
  if (config.tls.mode === 'letsencrypt') {
    const bad = config.domains.find((d) => d === 'localhost' || d.startsWith('*.') || !d.includes('.'));
    if (bad) err(['domains'], `Let's Encrypt cannot issue a certificate for \`${bad}\` (needs a public DNS name, no wildcard over http-01)`, { hint: 'set domains to your public names, or use tls.mode: custom / off for local use' });
  }

  // Secrets by reference: each named key must exist in .env (when there is one).
  if (envInput && envInput.text !== null) {
    for (const [name, key] of Object.entries(config.secrets)) {
      if (name === 'grafanaAdminPassword' && !config.monitoring.grafana.enabled) continue;
      if (name === 'replicationPassword' && !config.backups.pitr.enabled) continue;
      const value = env[key];
      const explicit = hasPath(['secrets', name]);
      const place = (path: string[], message: string, extra: Partial<Problem>): void =>
        explicit ? err(path, message, extra) : void problems.push({ severity: 'error', file: envInput.file, line: 1, col: 1, path: path.join('.'), message, ...extra });
      if (value === undefined) {
        place(['secrets', name], `${envInput.file} has no key ${key} (named by secrets.${name})`, {
          expected: `a line ${key}=… in ${envInput.file}`, found: 'no such key', hint: `add ${key} to ${envInput.file}, or run \`modelship init --force\` to generate fresh secrets`,
        });
      } else if (value === '') {
        place(['secrets', name], `${key} in ${envInput.file} is empty (named by secrets.${name})`, { hint: 'generate one: openssl rand -base64 32' });
      }
    }
    if (new Set(Object.values(config.secrets)).size !== Object.values(config.secrets).length) {
      warn(['secrets'], 'two secrets name the same .env key: a leak of one is a leak of both');
    }
  }
  return problems;
}
