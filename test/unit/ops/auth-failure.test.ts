/** A refused password in a failed gate's logs is named as the cause. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authFailure } from '../../../src/ops/auth-failure.ts';

const SECRETS = { postgresPassword: 'POSTGRES_PASSWORD', redisPassword: 'REDIS_PASSWORD' };

test('PostgreSQL and Redis refusals are recognised; anything else is not', () => {
  const pg = authFailure('{"level":50,"msg":"worker failed to start: error: password authentication failed for user \\"modelship\\""}', SECRETS);
  assert.match(pg!.cause, /^PostgreSQL refused the password for role modelship \(POSTGRES_PASSWORD in .env/);
  assert.match(authFailure('ReplyError: WRONGPASS invalid username-password pair or user is disabled.', SECRETS)!.cause, /^Redis refused the password \(REDIS_PASSWORD/);
  assert.match(authFailure('NOAUTH Authentication required.', SECRETS)!.cause, /^Redis/);
  assert.equal(authFailure('connect ECONNREFUSED 172.18.0.3:5432', SECRETS), null);
  assert.equal(authFailure('', SECRETS), null);
});
