import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ask, confirm } from '../../../src/cli/prompt.ts';
import type { CommandContext } from '../../../src/cli/context.ts';

const ctx = (yes: boolean) => ({ global: { yes } }) as unknown as CommandContext;

test('confirm: --yes answers; without a terminal it is a usage error that names --yes, never a hang', async () => {
  assert.equal(await confirm(ctx(true), 'delete 3 backups?'), true);
  await assert.rejects(confirm(ctx(false), 'delete 3 backups? (oldest first)'), (e: Error & { exitCode?: number; hint?: string }) => e.message === 'delete 3 backups: needs confirmation' && e.exitCode === 2 && /--yes/.test(e.hint ?? ''));
  await assert.rejects(ask('Type the project name: ', () => new Error('no terminal')), /no terminal/);
});
