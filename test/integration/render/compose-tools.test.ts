/**
 * The rendered Compose file as Debian's docker-compose reads it (`docker-compose config -q`), for
 * configs that switch every optional part on and off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { renderAll } from '../../../src/render/index.ts';
import { COMPOSE_FILE } from '../../../src/render/compose.ts';
import { configFrom, VARIANTS } from '../../helpers/config.ts';

const hasCompose = (await execa('docker-compose', ['version', '--short'], { reject: false })).exitCode === 0;

for (const [name, yaml] of Object.entries(VARIANTS)) {
  test(`docker-compose config -q accepts the ${name} render`, { skip: hasCompose ? false : 'docker-compose is not installed (scripts/test-deps.sh installs it)' }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'modelship-compose-'));
    const out = path.join(dir, 'compose');
    const config = configFrom(yaml);
    for (const f of renderAll(config, { configDir: '..', envFile: '../.env' })) {
      mkdirSync(path.dirname(path.join(out, f.path)), { recursive: true });
      writeFileSync(path.join(out, f.path), f.content);
    }
    writeFileSync(path.join(dir, 'modelship.config.yaml'), yaml);
    writeFileSync(path.join(dir, '.env'), Object.values(config.secrets).map((k) => `${k}=x${k.length}`).join('\n'));
    const profiles = ['standby', 'monitoring', 'tls', 'backup'].flatMap((p) => ['--profile', p]);
    const r = await execa('docker-compose', ['-p', config.project, '-f', path.join(out, COMPOSE_FILE), ...profiles, 'config', '-q'], { reject: false, cwd: out });
    assert.equal(r.exitCode, 0, `${r.stderr}\n${r.stdout}`);
    // And the resolved view keeps secrets out: values come from .env at run time only.
    const full = await execa('docker-compose', ['-p', config.project, '-f', path.join(out, COMPOSE_FILE), 'config'], { reject: false, cwd: out });
    assert.equal(full.exitCode, 0, full.stderr);
    assert.match(full.stdout, /services:/);
  });
}
