import type { Command } from 'commander';
import { action, type CommandContext, type RunEnvironment } from '../context.ts';
import { createPool, settingsFor } from '../../server/connect.ts';
import { createKey, listKeys, revokeKey } from '../../server/keys.ts';
import { UserError, UsageError } from '../../util/errors.ts';
import type { Pool } from 'pg';
import { configExplicit } from './serve.ts';

async function withPool<T>(ctx: CommandContext, fn: (pool: Pool) => Promise<T>): Promise<T> {
  const explicit = configExplicit(ctx.env);
  const { settings } = await settingsFor({ configFile: ctx.global.config, envFile: ctx.global.envFile, explicit, env: ctx.env });
  if (!settings.databaseUrl) throw new UserError('API keys live in PostgreSQL and no database is configured', { hint: 'set DATABASE_URL (or run inside the stack: `modelship exec api modelship keys ...`)' });
  const pool = createPool(settings.databaseUrl, 1);
  try {
    return await fn(pool);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '42P01') throw new UserError('the api_keys table does not exist', { hint: 'run `modelship db migrate` first' });
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '28P01' || code === '3D000') throw new UserError(`cannot reach PostgreSQL: ${(err as Error).message}`, { hint: 'check DATABASE_URL / the stack is up' });
    throw err;
  } finally {
    await pool.end();
  }
}

export function register(program: Command, runEnv: RunEnvironment): void {
  const keys = program.command('keys').description('manage API keys (stored hashed in PostgreSQL)');
  keys
    .command('create')
    .description('create a key and print it once (only its hash is stored)')
    .requiredOption('--name <name>', 'who or what the key is for')
    .action(
      action(runEnv, async (ctx, opts: { name: string }) => {
        const name = opts.name.trim();
        if (name === '' || name.length > 100) throw new UsageError('--name must be 1 to 100 characters');
        const { key, record } = await withPool(ctx, (p) => createKey(p, name));
        if (ctx.out.json) ctx.out.data({ ok: true, key, ...record });
        else {
          ctx.out.out(key);
          ctx.out.info(`created key ${record.id} (${record.name}); it is shown only now: store it safely`);
        }
      }),
    );
  keys
    .command('list')
    .description('list keys (never their secrets)')
    .action(
      action(runEnv, async (ctx) => {
        const list = await withPool(ctx, listKeys);
        if (ctx.out.json) {
          ctx.out.data({ ok: true, keys: list });
          return;
        }
        if (list.length === 0) {
          ctx.out.info('no API keys yet: `modelship keys create --name NAME`');
          return;
        }
        ctx.out.out(['ID'.padEnd(14), 'NAME'.padEnd(24), 'CREATED'.padEnd(21), 'LAST USED'.padEnd(21), 'STATUS'].join(''));
        for (const k of list) {
          ctx.out.out([k.id.padEnd(14), k.name.slice(0, 23).padEnd(24), k.createdAt.slice(0, 19).padEnd(21), (k.lastUsedAt?.slice(0, 19) ?? '-').padEnd(21), k.revokedAt ? `revoked ${k.revokedAt.slice(0, 19)}` : 'active'].join(''));
        }
      }),
    );
  keys
    .command('revoke')
    .description('revoke a key by id (or name); requests with it then get 403')
    .argument('<id>', 'key id (the part after ms_), the whole key, or its name')
    .action(
      action(runEnv, async (ctx, ref: string) => {
        const r = await withPool(ctx, (p) => revokeKey(p, ref));
        if (!r) throw new UserError(`no API key ${ref}`, { hint: 'see `modelship keys list`' });
        if ('ambiguous' in r) throw new UserError(`several keys are named ${ref}: ${r.ambiguous.join(', ')}`, { hint: 'revoke by id' });
        if (ctx.out.json) ctx.out.data({ ok: true, ...r });
        else ctx.out.out(`revoked ${r.id} (${r.name})`);
      }),
    );
}
