import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cronProblem, isValidCron } from '../../../src/config/cron.ts';
import { formatDotenv, parseDotenv } from '../../../src/config/dotenv.ts';

test('valid cron expressions', () => {
  for (const e of ['0 2 * * *', '*/15 * * * *', '0 3 * * 0', '30 4 1,15 * MON-FRI', '0 0 1 JAN *', '5-10/2 * * * 7']) {
    assert.equal(cronProblem(e), null, e);
  }
});

test('invalid cron expressions say what is wrong', () => {
  assert.match(cronProblem('0 25 * * *')!, /hour/);
  assert.match(cronProblem('0 2 * *')!, /5 fields/);
  assert.match(cronProblem('60 * * * *')!, /minute/);
  assert.match(cronProblem('0 2 * * 8')!, /day of week/);
  assert.match(cronProblem('0 2 5-1 * *')!, /backwards/);
  assert.match(cronProblem('*/0 * * * *')!, /step 0/);
  assert.equal(isValidCron('@daily'), false);
  assert.equal(isValidCron('0 0 0 * * *'), false);
});

test('.env parsing handles quotes, export, comments', () => {
  const r = parseDotenv('# c\nexport A=1\nB="two words"\nC=\'x#y\'\nD=plain # trailing\nE=\nbad line\n');
  assert.deepEqual(r.values, { A: '1', B: 'two words', C: 'x#y', D: 'plain', E: '' });
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0]!.line, 7);
});

test('.env formatting round-trips', () => {
  const text = formatDotenv([{ comment: 'x' }, ['K', 'abc-_=+/'], ['Q', 'has space "and" quote']]);
  assert.deepEqual(parseDotenv(text).values, { K: 'abc-_=+/', Q: 'has space "and" quote' });
});
