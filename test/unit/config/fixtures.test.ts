import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { analyzeConfig } from '../../../src/config/analyze.ts';

const dir = path.join(import.meta.dirname, '../../fixtures/configs/bad');
const cases = readdirSync(dir).sort();

test('there are at least 20 distinct broken configs', () => {
  assert.ok(cases.length >= 20, `only ${cases.length} fixtures`);
});

for (const name of cases) {
  test(`broken config "${name}" is reported precisely`, () => {
    const src = readFileSync(path.join(dir, name, 'modelship.config.yaml'));
    const envPath = path.join(dir, name, '.env');
    const expected = JSON.parse(readFileSync(path.join(dir, name, 'expect.json'), 'utf8')) as {
      errors: Array<{ file: string; line: number; col: number; path: string; messageIncludes: string }>;
    };
    const a = analyzeConfig(src, 'modelship.config.yaml', { file: '.env', text: existsSync(envPath) ? readFileSync(envPath, 'utf8') : null });
    assert.equal(a.config, null, 'a broken config must not produce a config');
    const errors = a.problems.filter((p) => p.severity === 'error');
    assert.ok(errors.length > 0);
    assert.equal(errors.length, expected.errors.length, JSON.stringify(errors, null, 2));
    expected.errors.forEach((e, i) => {
      const got = errors[i]!;
      assert.equal(`${got.file}:${got.line}:${got.col}`, `${e.file}:${e.line}:${e.col}`, got.message);
      assert.equal(got.path, e.path);
      assert.ok(got.message.includes(e.messageIncludes), `${got.message} should include ${e.messageIncludes}`);
      assert.ok(got.line >= 1 && got.col >= 1);
    });
  });
}
