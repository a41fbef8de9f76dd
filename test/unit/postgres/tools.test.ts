import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findPgTool } from '../../../src/postgres/tools.ts';

function tool(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const p = path.join(dir, name);
  writeFileSync(p, '#!/bin/sh\n');
  chmodSync(p, 0o755);
  return p;
}

test('one finder for every PostgreSQL program: MODELSHIP_PG_BIN, then PATH, then the newest Debian version', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ms-pgtool-'));
  const lib = path.join(root, 'lib');
  tool(path.join(lib, '15', 'bin'), 'pg_verifybackup');
  const v16 = tool(path.join(lib, '16', 'bin'), 'pg_verifybackup');
  tool(path.join(lib, '9', 'bin'), 'pg_verifybackup');
  mkdirSync(path.join(lib, 'notaversion'));
  assert.equal(findPgTool('pg_verifybackup', { PATH: '/nonexistent' }, lib), v16, 'the newest major (numerically, not 9 > 16)');
  const onPath = tool(path.join(root, 'bin'), 'pg_verifybackup');
  assert.equal(findPgTool('pg_verifybackup', { PATH: `/nonexistent:${path.join(root, 'bin')}` }, lib), onPath, 'PATH before the Debian layout');
  assert.equal(findPgTool('pg_dump', { MODELSHIP_PG_BIN: '/opt/pg/bin/', PATH: path.join(root, 'bin') }, lib), '/opt/pg/bin/pg_dump', 'MODELSHIP_PG_BIN wins, taken as given');
});

test('a program nowhere: a UserError naming it, with what to install or set', () => {
  const empty = mkdtempSync(path.join(os.tmpdir(), 'ms-pgtool-none-'));
  assert.throws(
    () => findPgTool('pg_receivewal', { PATH: empty }, path.join(empty, 'no-such-lib')),
    (e: Error & { hint?: string }) => /^pg_receivewal not found on this host$/.test(e.message) && /postgresql-client-N.*MODELSHIP_PG_BIN/.test(e.hint ?? ''),
  );
});
