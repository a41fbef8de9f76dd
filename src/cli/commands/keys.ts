import type { Command } from 'commander';
import { action, type CommandContext, type RunEnvironment } from '../context.ts';
import { openDb, withDbFlags } from './db-flags.ts';
import { createPool, settingsFor } from '../../services/connect.ts';
import { createKey, keyStoreError, listKeys, revokeKey, type KeyDb } from '../../server/keys.ts';
import { hintFor } from '../../postgres/errors.ts';
import { UserError, UsageError, errorMessage } from '../../util/errors.ts';
import { configExplicit } from './serve.ts';

interface Flags {
  direct?: boolean;
  databaseUrl?: string;
}

/**
 * Where the keys live. Inside one of the stack's containers (MODELSHIP_ROLE is set) or with
 * `--direct`: straight to PostgreSQL, as the server connects. Otherwise, like `db` and `backup`:
 * the stack's postgres container through the Docker Engine's exec API (nothing needs publishing).
 */
async function withKeyDb<T>(ctx: CommandContext, flags: Flags, fn: (db: KeyDb) => Promise<T>): Promise<T> {
  if (flags.databaseUrl && !flags.direct) throw new UsageError('--database-url only applies with --direct', 'add --direct');
  if (flags.direct || ctx.env.MODELSHIP_ROLE) {
    const explicit = configExplicit(ctx.env);
    const env = flags.databaseUrl ? { ...ctx.env, DATABASE_URL: flags.databaseUrl } : ctx.env;
    const { settings } = await settingsFor({ configFile: ctx.global.config, envFile: ctx.global.envFile, explicit, env });
    if (!settings.databaseUrl) {
      throw new UserError('API keys live in PostgreSQL and no database is configured', {
        hint: 'run it on the server without --direct (it reaches the stack\'s postgres container through the Docker Engine), or pass --database-url / set DATABASE_URL',
        exitCode: 2,
      });
    }
    const pool = createPool(settings.databaseUrl, 1);
    try {
      return await fn(pool).catch((err: unknown) => {
        throw keyStoreError(err, 'the database at DATABASE_URL');
      });
    } finally {
      await pool.end().catch(() => undefined);
    }
  }
  const { target } = await openDb(ctx, flags);
  try {
    const s = await target.connect({ appName: 'modelship keys' }).catch((err: unknown) => {
      throw new UserError(`cannot connect to ${target.describe}: ${errorMessage(err)}`, { hint: hintFor(errorMessage(err)) ?? 'is the stack up? `modelship status`', cause: err });
    });
    try {
      return await fn(s).catch((err: unknown) => {
        throw keyStoreError(err, target.describe);
      });
    } finally {
      await s.end();
    }
  } finally {
    await target.close();
  }
}

export function register(program: Command, runEnv: RunEnvironment): void {
  const keys = program.command('keys').description('manage API keys (stored hashed in PostgreSQL; on the server through the stack\'s postgres container, or --direct)');
  withDbFlags(keys.command('create'), { dir: false })
    .description('create a key and print it once (only its hash is stored)')
    .requiredOption('--name <name>', 'who or what the key is for')
    .action(
      action(runEnv, async (ctx, opts: Flags & { name: string }) => {
        const name = opts.name.trim();
        if (name === '' || name.length > 100) throw new UsageError('--name must be 1 to 100 characters');
        const { key, record } = await withKeyDb(ctx, opts, (db) => createKey(db, name));
        if (ctx.out.json) ctx.out.data({ ok: true, key, ...record });
        else {
          ctx.out.out(key);
          ctx.out.info(`created key ${record.id} (${record.name}); it is shown only now: store it safely`);
        }
      }),
    );
  withDbFlags(keys.command('list'), { dir: false })
    .description('list keys (never their secrets)')
    .action(
      action(runEnv, async (ctx, opts: Flags) => {
        const list = await withKeyDb(ctx, opts, listKeys);
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
  withDbFlags(keys.command('revoke'), { dir: false })
    .description('revoke a key by id (or name); requests with it then get 403')
    .argument('<id>', 'key id (the part after ms_), the whole key, or its name')
    .action(
      action(runEnv, async (ctx, ref: string, opts: Flags) => {
        const r = await withKeyDb(ctx, opts, (db) => revokeKey(db, ref));
        if (!r) throw new UserError(`no API key ${ref}`, { hint: 'see `modelship keys list`' });
        if ('ambiguous' in r) throw new UserError(`several keys are named ${ref}: ${r.ambiguous.join(', ')}`, { hint: 'revoke by id' });
        if (ctx.out.json) ctx.out.data({ ok: true, ...r });
        else ctx.out.out(`revoked ${r.id} (${r.name})`);
      }),
    );
}
