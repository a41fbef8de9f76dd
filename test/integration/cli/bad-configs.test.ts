/**
 * The built executable on every broken config: exit 1, a located message, never a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

const root = path.join(import.meta.dirname, '../../..');
const bin = path.join(root, 'bin/modelship.js');
const dir = path.join(root, 'test/fixtures/configs/bad');

for (const name of readdirSync(dir).sort()) {
  test(`modelship config validate on "${name}" exits 1 with a located message`, async () => {
    const cfg = path.join(dir, name, 'modelship.config.yaml');
    for (const cmd of [['config', 'validate'], ['render', '--out', '/nonexistent-never-written']]) {
      const r = await execa(process.execPath, [bin, ...cmd, '-c', cfg], { reject: false, env: { NO_COLOR: '1' }, cwd: root });
      assert.equal(r.exitCode, 1, `${cmd.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /\.(yaml|env):\d+:\d+/, r.stderr);
      assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
      assert.equal(r.stdout.trim(), '', 'nothing on stdout for a failed run');
    }
  });
}
