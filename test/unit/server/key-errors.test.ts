import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyStoreError } from '../../../src/server/keys.ts';
import { UserError } from '../../../src/util/errors.ts';

test('key store failures become human errors: read-only mode, missing table, unreachable server, anything else', () => {
  const pgReadOnly = Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' });
  const psqlReadOnly = new Error('cannot execute INSERT in a read-only transaction'); // psql in the container: no SQLSTATE
  for (const e of [pgReadOnly, psqlReadOnly]) {
    const u = keyStoreError(e, 'container x');
    assert.ok(u instanceof UserError);
    assert.match(u.message, /the database is read-only/);
    assert.match((u as UserError).hint ?? '', /emergency read-only off/);
  }
  assert.match(keyStoreError(Object.assign(new Error('relation "api_keys" does not exist'), { code: '42P01' }), 'x').message, /api_keys table does not exist/);
  assert.match(keyStoreError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), 'db').message, /cannot reach PostgreSQL \(db\)/);
  const other = keyStoreError(new Error('disk quota'), 'db');
  assert.ok(other instanceof UserError, 'never an "unexpected failure"');
});
