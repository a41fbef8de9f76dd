import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../helpers/cli.ts';
import { parseDotenv } from '../../../src/config/dotenv.ts';

const root = path.join(import.meta.dirname, '../../..');
const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'modelship-cli-'));

test('init writes a config, a schema and a 0600 .env with strong secrets, and refuses to overwrite', async () => {
  const dir = tmp();
  const r = await runCli(['init', '--dir', dir, '--cores', '8']);
  assert.equal(r.code, 0, r.stderr);
  const env = parseDotenv(readFileSync(path.join(dir, '.env'), 'utf8')).values;
  assert.equal(statSync(path.join(dir, '.env')).mode & 0o777, 0o600);
  assert.match(env.SECRET_KEY!, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, URL-safe base64');
  assert.equal(Buffer.from(env.SECRET_KEY!, 'base64url').length, 32);
  for (const k of ['POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'GRAFANA_ADMIN_PASSWORD']) assert.ok((env[k] ?? '').length >= 20, k);
  const cfg = readFileSync(path.join(dir, 'modelship.config.yaml'), 'utf8');
  assert.match(cfg, /^# yaml-language-server: \$schema=\.\/modelship\.schema\.json/);
  assert.match(cfg, /workers: 8 /);
  assert.match(cfg, /replicas: 4 /);
  JSON.parse(readFileSync(path.join(dir, 'modelship.schema.json'), 'utf8'));

  const again = await runCli(['init', '--dir', dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /refusing to overwrite/);
  assert.equal(parseDotenv(readFileSync(path.join(dir, '.env'), 'utf8')).values.SECRET_KEY, env.SECRET_KEY, 'secrets kept');

  const forced = await runCli(['init', '--dir', dir, '--force']);
  assert.equal(forced.code, 0);
  assert.notEqual(parseDotenv(readFileSync(path.join(dir, '.env'), 'utf8')).values.SECRET_KEY, env.SECRET_KEY);
});

test('init → validate → render → render --check in an empty directory', async () => {
  const dir = tmp();
  assert.equal((await runCli(['init', '--dir', dir])).code, 0);
  const v = await runCli(['config', 'validate'], { cwd: dir });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /valid/);
  const r = await runCli(['render'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /docker-compose\.production\.yml/);
  const c = await runCli(['render', '--check', '--json'], { cwd: dir });
  assert.equal(c.code, 0, c.stderr);
  assert.equal((JSON.parse(c.stdout) as { ok: boolean }).ok, true);
  const second = await runCli(['render'], { cwd: dir });
  assert.match(second.stderr, /nothing changed/);

  // Drift: a config change makes --check fail and name the file.
  const cfgPath = path.join(dir, 'modelship.config.yaml');
  writeFileSync(cfgPath, readFileSync(cfgPath, 'utf8').replace('replicas: 1 ', 'replicas: 3 ').replace('replicas: 2 ', 'replicas: 3 '));
  const drift = await runCli(['render', '--check'], { cwd: dir });
  assert.equal(drift.code, 1);
  assert.match(drift.stdout, /differs\s+compose\/docker-compose\.production\.yml/);
});

test('config validate reports located errors with exit 1, in text and JSON, never a stack trace', async () => {
  const fixture = path.join(root, 'test/fixtures/configs/bad/unknown-nested-key/modelship.config.yaml');
  const r = await runCli(['config', 'validate', '-c', fixture]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /modelship\.config\.yaml:8:3/);
  assert.match(r.stderr, /did you mean `tuning`/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const j = await runCli(['--json', 'config', 'validate', '-c', fixture]);
  const body = JSON.parse(j.stdout) as { ok: boolean; errors: Array<{ line: number; col: number; path: string; hint: string }> };
  assert.equal(body.ok, false);
  assert.deepEqual([body.errors[0]!.line, body.errors[0]!.col, body.errors[0]!.path], [8, 3, 'postgres.tunning']);
});

test('a missing config file is a clear error with a next step', async () => {
  const r = await runCli(['render', '-c', path.join(tmp(), 'nope.yaml')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /config file not found/);
  assert.match(r.stderr, /modelship init/);
});

test('MODELSHIP_CONFIG selects the config; usage errors exit 2', async () => {
  const fixture = path.join(root, 'test/fixtures/configs/bad/empty/modelship.config.yaml');
  const r = await runCli(['config', 'validate'], { env: { MODELSHIP_CONFIG: fixture } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /empty/);
  assert.equal((await runCli(['render', '--bogus-flag'])).code, 2);
  assert.equal((await runCli(['no-such-command'])).code, 2);
  assert.equal((await runCli(['init', '--cores', 'many'])).code, 2);
});

test('config schema prints the JSON Schema', async () => {
  const r = await runCli(['config', 'schema']);
  assert.equal(r.code, 0);
  const s = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
  assert.ok(s.properties.postgres);
  assert.equal(r.stdout, readFileSync(path.join(root, 'modelship.schema.json'), 'utf8'), 'the committed schema is current');
});

test('the repo\'s compose/ matches a render of the sample config (no drift)', async () => {
  const r = await runCli(['render', '--check', '-c', path.join(root, 'modelship.config.yaml')]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\nrun: node bin/modelship.js render`);
});
