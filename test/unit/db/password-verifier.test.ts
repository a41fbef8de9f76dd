/** Password verifiers against ones a real PostgreSQL 15 stored (pg_authid.rolpassword). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { passwordMatches, scramVerifier } from '../../../src/db/password-verifier.ts';

// CREATE ROLE ms_fs_verifier_probe LOGIN PASSWORD 'rotate-me-Ünï' (password_encryption scram-sha-256)
const PG_SCRAM = 'SCRAM-SHA-256$4096:f7bZO6sWevxQiONoCxwDew==$bcSlNjlCj0+f3VB68WT6EbCywtpUj5I3nv+TtUmAbPU=:bCItKZqebuIR712C+qateXBx3abV6u5KhgZ+WwAhLKY=';
// SET password_encryption = 'md5'; ALTER ROLE ms_fs_verifier_probe PASSWORD 'old-md5-pass'
const PG_MD5 = 'md587734e57531aa58d8ba1e7a27b4adc77';

test('a SCRAM-SHA-256 verifier PostgreSQL stored matches its password only', () => {
  assert.equal(passwordMatches(PG_SCRAM, 'ms_fs_verifier_probe', 'rotate-me-Ünï'), true);
  assert.equal(passwordMatches(PG_SCRAM, 'ms_fs_verifier_probe', 'rotate-me-Uni'), false);
  assert.equal(passwordMatches(PG_SCRAM, 'ms_fs_verifier_probe', ''), false);
});

test('an md5 verifier matches password + user', () => {
  assert.equal(passwordMatches(PG_MD5, 'ms_fs_verifier_probe', 'old-md5-pass'), true);
  assert.equal(passwordMatches(PG_MD5, 'someone_else', 'old-md5-pass'), false);
  assert.equal(passwordMatches(PG_MD5, 'ms_fs_verifier_probe', 'new-pass'), false);
});

test('nothing comparable stored: null (no password, plain text, unknown format)', () => {
  assert.equal(passwordMatches(null, 'u', 'p'), null);
  assert.equal(passwordMatches('', 'u', 'p'), null);
  assert.equal(passwordMatches('plain-text-password', 'u', 'p'), null);
});

test('the verifier we set is the one PostgreSQL computes (same salt) and verifies its password', () => {
  const salt = Buffer.from('f7bZO6sWevxQiONoCxwDew==', 'base64');
  assert.equal(scramVerifier('rotate-me-Ünï', salt, 4096), PG_SCRAM);
  const fresh = scramVerifier('n3w-secret');
  assert.match(fresh, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
  assert.notEqual(fresh, scramVerifier('n3w-secret'), 'a fresh salt each time');
  assert.equal(passwordMatches(fresh, 'any', 'n3w-secret'), true);
  assert.equal(passwordMatches(fresh, 'any', 'old'), false);
});
