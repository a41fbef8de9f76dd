/** CLI wiring for off-site copies: `backup push`, `backup list --remote`, `backup verify --remote`, and restores from the remote. */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { action, type CommandContext, type RunEnvironment } from '../context.ts';
import { withDbFlags } from './db-flags.ts';
import { confirm } from '../prompt.ts';
import { formatBytes } from '../../util/size.ts';
import { loadSettings, type DbFlags, type OpsSettings } from '../../ops/backup/context.ts';
import { loadIdentities, requireIdentities } from '../../ops/backup/encryption.ts';
import { utcStamp } from '../../ops/backup/naming.ts';
import type { PitrLayout } from '../../ops/backup/pitr/layout.ts';
import { pitrSettings } from '../../ops/backup/pitr/settings.ts';
import { applyRemotePrune, planRemotePrune } from '../../ops/backup/remote/prune.ts';
import type { RestoreTarget } from '../../ops/backup/pitr/plan.ts';
import { listRemote, newestDump, readMeta, stageDump, stagePitr, verifyRemoteAll } from '../../ops/backup/remote/fetch.ts';
import { relForDump } from '../../ops/backup/remote/catalog.ts';
import { remoteState } from '../../ops/backup/remote/queue.ts';
import { openRemote, requireRemote } from '../../ops/backup/remote/settings.ts';
import type { RemoteStore } from '../../ops/backup/remote/store.ts';
import { drainQueue, queueFacts, scanAndEnqueue } from '../../ops/backup/remote/sync.ts';
import { UserError } from '../../util/errors.ts';

export interface RemoteFlags {
  remote?: boolean;
  remoteUrl?: string;
  identity?: string;
  fromRemote?: boolean;
}

export function withRemoteUrl(cmd: Command): Command {
  return cmd.option('--remote-url <url>', 'the remote instead of backups.remote.url (s3://bucket/prefix, sftp://user@host/path)');
}

async function withStore<T>(ctx: CommandContext, settings: OpsSettings, flags: RemoteFlags, fn: (store: RemoteStore) => Promise<T>): Promise<T> {
  const store = openRemote(requireRemote(settings, ctx.env, flags.remoteUrl));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export async function printRemoteList(ctx: CommandContext, settings: OpsSettings, flags: RemoteFlags): Promise<void> {
  await withStore(ctx, settings, flags, async (store) => {
    const l = await listRemote(store);
    const q = await queueFacts(settings.dir);
    const complete = l.wal.filter((f) => !f.endsWith('.partial'));
    const partial = l.wal.filter((f) => f.endsWith('.partial')).at(-1) ?? null;
    if (ctx.out.json) {
      ctx.out.data({ ok: true, remote: store.describe, dumps: l.dumps, bases: l.bases.map(({ base: _b, ...b }) => ({ ...b, finishedAt: _b?.finishedAt ?? null })), wal: { files: complete.length, bytes: l.walBytes, newest: complete.at(-1) ?? null, partial }, pending: q, problems: l.problems });
      return;
    }
    ctx.out.out(`remote ${store.describe}`);
    const rows = [
      ...l.dumps.map((d) => [d.key, formatBytes(d.size), d.manifest?.createdAt.slice(0, 19).replace('T', ' ') ?? '-', d.encrypted ? 'age' : 'no', d.uploadedAt.slice(0, 19).replace('T', ' ')]),
      ...l.bases.map((b) => [b.key, formatBytes(b.size), b.base?.finishedAt.slice(0, 19).replace('T', ' ') ?? '-', b.encrypted ? 'age' : 'no', b.uploadedAt.slice(0, 19).replace('T', ' ')]),
    ];
    const head = ['KEY', 'SIZE', 'TAKEN (UTC)', 'ENCRYPTED', 'COPIED (UTC)'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows]) ctx.out.out(r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd());
    ctx.out.out(`WAL: ${complete.length} file(s), ${formatBytes(l.walBytes)}, newest ${complete.at(-1) ?? '-'}${partial ? `, and ${partial} (the segment being filled)` : ''}`);
    if (q.pending) ctx.out.warn(`${q.pending} file(s) from ${settings.dir} not copied yet (oldest queued ${q.oldest}${q.lastError ? `; last error: ${q.lastError}` : ''})`);
    for (const p of l.problems) ctx.out.warn(`unreadable record: ${p}`);
  });
}

export async function verifyRemote(ctx: CommandContext, settings: OpsSettings, flags: RemoteFlags): Promise<number> {
  return withStore(ctx, settings, flags, async (store) => {
    const results = await verifyRemoteAll(store, ctx.out.json ? {} : { log: (l) => ctx.out.out(l) });
    const bad = results.filter((r) => !r.ok);
    if (ctx.out.json) ctx.out.data({ ok: bad.length === 0, remote: store.describe, results });
    else if (bad.length) ctx.out.error(`${bad.length} of ${results.length} off-site cop${results.length === 1 ? 'y' : 'ies'} on ${store.describe} failed verification: do not rely on them`);
    else ctx.out.info(`${results.length} off-site cop${results.length === 1 ? 'y' : 'ies'} verified (read back, sha256 as uploaded)`);
    return bad.length ? 1 : 0;
  });
}

export async function pruneRemote(ctx: CommandContext, settings: OpsSettings, flags: RemoteFlags, dryRun: boolean): Promise<void> {
  const p = pitrSettings(settings, ctx.env);
  await withStore(ctx, settings, flags, async (store) => {
    const plan = await planRemotePrune(store, settings.retention, p.keepBaseBackups);
    if (!dryRun && plan.delete.length > 0 && !(await confirm(ctx, `delete ${plan.delete.length} off-site cop${plan.delete.length === 1 ? 'y' : 'ies'} on ${store.describe} outside the retention policy?`))) throw new UserError('nothing deleted');
    const deleted = dryRun ? 0 : await applyRemotePrune(store, plan);
    if (ctx.out.json) {
      ctx.out.data({ ok: true, remote: store.describe, dryRun, plan, deleted });
      return;
    }
    for (const d of plan.dumps) ctx.out.out(`${d.action === 'keep' ? 'keep  ' : dryRun ? 'would delete' : 'delete'}  ${d.file}  (${d.reasons.join(', ')})`);
    for (const b of plan.pitr.bases) ctx.out.out(`${b.action === 'keep' ? 'keep  ' : dryRun ? 'would delete' : 'delete'}  base ${b.name}  (${b.reason})`);
    ctx.out.out(`${dryRun ? 'would delete' : 'deleted'} ${plan.pitr.wal.delete.length} WAL file(s) on ${store.describe}${plan.pitr.wal.keepFrom ? ` older than base ${plan.pitr.wal.keepFrom}` : ''}`);
  });
}

/** A scratch directory in the backup directory for what a restore fetches; removed afterwards. */
async function stagingDir(settings: OpsSettings): Promise<string> {
  const dir = path.join(remoteState(settings.dir).root, `restore-${utcStamp(new Date())}-${process.pid}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Fetches a dump (the named one, else the newest) from the remote and runs `fn` on the local copy. */
export async function withRemoteDump<T>(ctx: CommandContext, settings: OpsSettings, flags: RemoteFlags, file: string | undefined, fn: (local: string) => Promise<T>): Promise<T> {
  const identities = await loadIdentities(flags.identity, ctx.env);
  return withStore(ctx, settings, flags, async (store) => {
    let name = file ? path.basename(file) : undefined;
    if (!name) {
      const newest = newestDump(await listRemote(store), settings.database);
      if (!newest) throw new UserError(`no backup of ${settings.database} on ${store.describe}`, { hint: 'list the remote with `modelship backup list --remote`' });
      name = path.basename(newest.rel);
    }
    // Refused before the download when the copy is encrypted and there is no key.
    if ((await readMeta(store, relForDump(name))).encrypted) requireIdentities(identities, `${name} on ${store.describe}`);
    const stage = await stagingDir(settings);
    try {
      const local = await stageDump(store, name, stage, identities, (l) => ctx.out.info(l));
      return await fn(local);
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  });
}

/** Fetches the base backup and WAL a point-in-time restore needs and runs `fn` on that layout. */
export async function withRemotePitr<T>(ctx: CommandContext, settings: OpsSettings, flags: RemoteFlags, target: RestoreTarget, fn: (layout: PitrLayout) => Promise<T>): Promise<T> {
  const identities = await loadIdentities(flags.identity, ctx.env);
  return withStore(ctx, settings, flags, async (store) => {
    if ((await listRemote(store)).bases.some((b) => b.encrypted)) requireIdentities(identities, `the base backups on ${store.describe}`);
    const stage = await stagingDir(settings);
    try {
      const layout = await stagePitr(store, target, stage, identities, (l) => ctx.out.info(l));
      return await fn(layout);
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  });
}

export function registerRemote(backup: Command, runEnv: RunEnvironment): void {
  const push = withRemoteUrl(withDbFlags(backup.command('push')));
  push
    .description('copy every backup, base backup and WAL segment not yet off-site to backups.remote now (encrypted with backups.encryption.recipients); `modelship schedule` does this continuously')
    .action(
      action(runEnv, async (ctx, own: DbFlags & RemoteFlags) => {
        const opts = { ...own, ...(push.optsWithGlobals() as DbFlags & RemoteFlags) };
        const settings = await loadSettings(ctx.global.config, ctx.global.envFile, opts, ctx.env, ctx.cwd);
        const r = requireRemote(settings, ctx.env, opts.remoteUrl);
        return withStore(ctx, settings, opts, async (store) => {
          const added = await scanAndEnqueue(settings.dir);
          if (added.length && !ctx.out.json) ctx.out.info(`${added.length} new file(s) queued`);
          const res = await drainQueue(settings.dir, store, { recipients: r.recipients, intervalSeconds: r.intervalSeconds, force: true, log: ctx.out.json ? () => undefined : (l) => ctx.out.info(l) });
          if (ctx.out.json) ctx.out.data({ ok: res.failed.length === 0 && res.pending === 0, remote: store.describe, ...res });
          else {
            for (const f of res.failed) ctx.out.error(`${f.rel}: ${f.error}${f.hint ? `\n  fix: ${f.hint}` : ''}`);
            ctx.out.out(`${res.uploaded.length} copied to ${store.describe}, ${res.pending} still queued`);
          }
          return res.failed.length || res.pending ? 1 : 0;
        });
      }),
    );
}
