/**
 * Point-in-time restore of the stack's postgres (`restore --to-latest|--to-time` without --direct):
 * the cluster is rebuilt beside the live one in the data volume by throwaway containers of the
 * postgres image, replayed and checked by a scratch server with no network, and only then swapped
 * in (see volume-swap.ts for the layout and why it is physical). Works with the volume gone: it is
 * created again and postgres with it.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { COMPOSE_LABEL, MS_LABEL, volumeName } from '../../../docker/desired.ts';
import { createAndStart, createNetwork, createVolume, waitReady } from '../../../docker/engine.ts';
import { VOLUME } from '../../../stack/build.ts';
import { PITR_RESTORE_LABEL, SERVICE } from '../../../stack/names.ts';
import { UserError, errorMessage } from '../../../util/errors.ts';
import { pidAlive } from '../../../util/process.ts';
import { serviceContainers } from '../../containers.ts';
import { hostStack, renderStackFiles, viewStack, type StackHandle } from '../../stack.ts';
import { withStackLock } from '../../lock.ts';
import { utcStamp } from '../naming.ts';
import { containerTargetFor } from '../../../postgres/container.ts';
import { lastLines } from '../../../postgres/errors.ts';
import { historyFacts, setAsideForHistory } from './abandoned-wal.ts';
import { unsealBase, type Log } from './base-backup.ts';
import { requireIdentities } from '../encryption.ts';
import type { PitrLayout } from './layout.ts';
import { archiveRestoreCommand, recoverySettings, type RestoreTarget } from './plan.ts';
import { writeRehearsal } from './rehearsal.ts';
import { pinForRestore } from './pins.ts';
import { checkRestored, chooseAndPlan, describeTarget, materializeWal, needsIdentity, planStageWal, replayFailure, type RestoredFacts } from './restore-local.ts';
import {
  ARCHIVE_MOUNT,
  JOB_MOUNT,
  RESTORE_HOST_LABEL,
  RESTORE_LABEL,
  RESTORE_PID_LABEL,
  VOLUME_MOUNT,
  buildScript,
  parseRepair,
  proveScript,
  repairScript,
  scratchServerArgs,
  swapScript,
  volumeNames,
  type RepairReport,
} from './volume-swap.ts';

export interface StackRestoreOptions {
  h: StackHandle;
  layout: PitrLayout;
  target: RestoreTarget;
  database: string;
  user: string;
  checkSql?: string | undefined;
  verifyOnly: boolean;
  log?: Log;
  now?: () => Date;
  replayTimeoutMs?: number;
  confirm?: (question: string) => Promise<boolean>;
  /** age identities, for an archive sealed with backups.encryption.recipients. */
  identities?: readonly string[];
  /** `--timeline N`: replay along timeline N instead of the latest. */
  timeline?: number | undefined;
}

export interface StackRestoreResult {
  ok: true;
  verifyOnly: boolean;
  base: string;
  target: string;
  recoveredTo: string | null;
  tables: number;
  checkSql: { sql: string; result: unknown } | null;
  durationMs: number;
  /** How long postgres was stopped for the swap (0 for --verify-only). */
  downtimeMs: number;
  volume: string;
  /** The data volume was missing and was created again. */
  volumeCreated: boolean;
  /** The replaced data directory, kept inside the volume (null: there was none). */
  previous: string | null;
  /** What an earlier, killed restore left and this one cleaned up or finished. */
  repaired: RepairReport | null;
  walSetAside: string[];
  warnings: string[];
}

function restoreLabels(project: string, stamp: string): Record<string, string> {
  return {
    [COMPOSE_LABEL.project]: project,
    [MS_LABEL.project]: project,
    [MS_LABEL.internal]: 'pitr-restore',
    [RESTORE_LABEL]: project,
    [RESTORE_PID_LABEL]: String(process.pid),
    [RESTORE_HOST_LABEL]: os.hostname(),
    [PITR_RESTORE_LABEL.stamp]: stamp,
  };
}

interface Ctx {
  docker: Docker;
  project: string;
  image: string;
  volume: string;
  archiveRoot: string;
  stamp: string;
}

/** Runs `script` as root in a throwaway container of the postgres image; its stdout, or a UserError. */
async function runHelper(c: Ctx, what: string, script: string, withArchive = false): Promise<string> {
  const job = await mkdtemp(path.join(os.tmpdir(), 'modelship-pitr-job-'));
  try {
    await writeFile(path.join(job, 'run.sh'), script, { mode: 0o644 });
    const ct = await c.docker.createContainer({
      name: `${c.project}-pitr-restore-${what.replace(/\W+/g, '-')}-${c.stamp.toLowerCase()}-${process.pid}`,
      Image: c.image,
      User: '0',
      Entrypoint: ['sh', `${JOB_MOUNT}/run.sh`],
      Cmd: [],
      Labels: restoreLabels(c.project, c.stamp),
      HostConfig: {
        NetworkMode: 'none',
        Mounts: [
          { Type: 'volume', Source: c.volume, Target: VOLUME_MOUNT },
          { Type: 'bind', Source: job, Target: JOB_MOUNT, ReadOnly: true },
          ...(withArchive ? [{ Type: 'bind' as const, Source: c.archiveRoot, Target: ARCHIVE_MOUNT, ReadOnly: true }] : []),
        ],
      },
    });
    try {
      await ct.start();
      const r = (await ct.wait()) as { StatusCode: number };
      const raw = await ct.logs({ stdout: true, stderr: true, follow: false });
      const out = demuxLogs(raw, 1);
      const err = demuxLogs(raw, 2);
      if (r.StatusCode !== 0) {
        throw new UserError(`${what} in the postgres data volume ${c.volume} failed (exit ${r.StatusCode}): ${lastLines(err || out, 3)}`, {
          hint: /No space left/i.test(err) ? 'the volume\'s disk is full: a restore needs room for a second copy of the data directory' : 'the live data directory was not touched',
        });
      }
      return out;
    } finally {
      await ct.remove({ force: true }).catch(() => undefined);
    }
  } finally {
    await rm(job, { recursive: true, force: true });
  }
}

/** Container logs without a TTY come as frames: [stream, 0, 0, 0, size (4 bytes, big-endian)] + payload. */
export function demuxLogs(buf: Buffer, want: 1 | 2 | 'both' = 'both'): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const stream = buf[i]!;
    const size = buf.readUInt32BE(i + 4);
    if (stream > 2 || buf[i + 1] !== 0) return buf.toString('utf8'); // not framed
    if (want === 'both' || want === stream) parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

async function removeStaleRestoreContainers(docker: Docker, project: string): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${RESTORE_LABEL}=${project}`] } });
  for (const c of list) {
    const pid = Number(c.Labels[RESTORE_PID_LABEL]);
    if (c.Labels[RESTORE_HOST_LABEL] === os.hostname() && pid !== process.pid && pidAlive(pid)) {
      throw new UserError(`another restore of stack ${project} is running (pid ${pid}, container ${c.Names[0]?.replace(/^\//, '')})`, { hint: 'wait for it, or stop it first' });
    }
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
}

async function volumeExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

async function stopAll(docker: Docker, ids: string[], log: Log): Promise<string[]> {
  const stopped: string[] = [];
  for (const id of ids) {
    const info = await docker.getContainer(id).inspect();
    if (!info.State.Running) continue;
    log(`stopping ${info.Name.replace(/^\//, '')} for the swap`);
    await docker.getContainer(id).stop({ t: 60 });
    stopped.push(id);
  }
  return stopped;
}

// Long because: one restore is a sequence of steps that share the cleanup state the finally block
// needs (scratch container, postgres stopped by us, swapped or not); split, that state would travel
// through every step's signature. Each step's work is in its own function or script (volume-swap.ts).
export async function restorePitrStack(o: StackRestoreOptions): Promise<StackRestoreResult> {
  const log = o.log ?? (() => undefined);
  const now = o.now ?? (() => new Date());
  const t0 = performance.now();
  const { h } = o;
  const docker = h.docker;
  const view = await viewStack(h);
  const stamp = utcStamp(now());
  const c: Ctx = { docker, project: h.project, image: view.config.images.postgres, volume: volumeName(h.project, VOLUME.pgdata), archiveRoot: o.layout.root, stamp };
  const n = volumeNames(stamp);
  const pgDesired = view.desired.containers.find((d) => d.service === SERVICE.postgres);
  const pgSpec = (await hostStack(h)).spec.services.find((s) => s.name === SERVICE.postgres);
  const liveIds = async () => (await serviceContainers(h, SERVICE.postgres)).map((x) => x.Id);

  const { base, data, dir, warnings } = await chooseAndPlan(o.layout, o.target, o.timeline);
  const sealed = await needsIdentity(o.layout, base);
  if (sealed) requireIdentities(o.identities ?? [], `base backup ${base.name} and its WAL`);
  for (const w of warnings) log(`warning: ${w}`);
  const operation = o.verifyOnly ? 'restore rehearsal' : 'restore';
  // Long because: the steps under the lock share the cleanup state of the finally block (see above).
  return withStackLock({ docker, project: h.project }, { operation, command: `${operation} ${describeTarget(o.target)}`, image: view.config.images.api, force: false }, async () => {
  let scratch: Docker.Container | null = null;
  let plainRoot: string | null = null;
  const stoppedByUs = new Set<string>();
  let swapped = false;
  // Retention in db-backup (after the base backup it takes on a new timeline) must not delete
  // what this restore reads.
  const unpin = await pinForRestore(o.layout, stamp, base.name, warnings);
  try {
    await removeStaleRestoreContainers(docker, h.project);
    const volumeCreated = !(await volumeExists(docker, c.volume));
    if (volumeCreated) {
      if (o.verifyOnly) throw new UserError(`the postgres data volume ${c.volume} does not exist: there is nothing to rehearse beside`, { hint: 'run the restore without --verify-only to rebuild it' });
      const labels = view.desired.volumes.find((v) => v.key === VOLUME.pgdata)?.labels ?? {};
      log(`the postgres data volume ${c.volume} is gone: creating it again`);
      await createVolume(docker, { name: c.volume, labels });
    }

    // What a killed restore left: finish a proven swap that was cut short, remove the rest.
    const listing = await runHelper(c, 'inspect', `cd ${VOLUME_MOUNT} && ls -1a\n`);
    let repaired: RepairReport | null = null;
    if (/^restore-/m.test(listing)) {
      if (/^restore-.*\.proven$/m.test(listing)) for (const id of await stopAll(docker, await liveIds(), log)) stoppedByUs.add(id);
      repaired = parseRepair(await runHelper(c, 'repair', repairScript()));
      for (const x of repaired.finished) log(`finished the swap of ${x}, which a killed restore had proven`);
      for (const x of repaired.removed) log(`removed ${x}, left by a restore that did not finish`);
      if (repaired.hadPendingSwap) for (const id of await liveIds()) stoppedByUs.add(id);
    }

    if (!o.verifyOnly && o.confirm) {
      const q = `replace the data of the stack's postgres (volume ${c.volume}) with base backup ${base.name} + WAL to ${describeTarget(o.target)}? postgres stops for the swap only; the current data directory is kept in the volume as ${n.previous}.`;
      if (!(await o.confirm(q))) throw new UserError('restore cancelled; nothing changed');
    }

    const rel = (p: string) => `${ARCHIVE_MOUNT}/${path.relative(o.layout.root, p).split(path.sep).join('/')}`;
    // Decrypted copies a killed restore left (the stack lock is held: no other restore owns one).
    for (const f of await readdir(o.layout.root).catch(() => [] as string[])) if (f.startsWith('.restore-plain-')) await rm(path.join(o.layout.root, f), { recursive: true, force: true });
    let planned = await planStageWal(o.layout, base);
    let baseData = data;
    if (sealed) {
      // The postgres image has no age: what the restore reads is decrypted here, into a private
      // directory under the archive (mounted into the helper), removed when the restore ends.
      plainRoot = path.join(o.layout.root, `.restore-plain-${stamp}`);
      await mkdir(plainRoot, { mode: 0o700 });
      log(`decrypting base backup ${base.name} and ${planned.length} WAL file(s) for the restore`);
      if (base.encryption) {
        baseData = path.join(plainRoot, 'data');
        await unsealBase(dir, base, o.identities ?? [], baseData);
      }
      await materializeWal(planned, path.join(plainRoot, 'wal'), o.identities ?? []);
      planned = planned.map((x) => ({ from: path.join(plainRoot!, 'wal', x.name), name: x.name }));
    }
    const copies = planned.map((x) => ({ from: rel(x.from), name: x.name }));
    log(`copying base backup ${base.name} (${(base.sizeBytes / 1048576).toFixed(1)} MiB) and ${copies.length} WAL file(s) into ${c.volume}:/${n.dir}`);
    await runHelper(c, 'build', buildScript(stamp, rel(baseData), copies), true);

    log(`replaying WAL to ${describeTarget(o.target)} in a scratch postgres (no network)`);
    scratch = await docker.createContainer({
      name: `${h.project}-pitr-restore-server-${stamp.toLowerCase()}`,
      Image: c.image,
      User: 'postgres',
      Entrypoint: ['postgres'],
      Cmd: scratchServerArgs(stamp, recoverySettings({ target: o.target, restoreCommand: archiveRestoreCommand(`${VOLUME_MOUNT}/${n.wal}`), timeline: o.timeline })),
      Labels: restoreLabels(h.project, stamp),
      StopSignal: 'SIGINT',
      HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: c.volume, Target: VOLUME_MOUNT }] },
    });
    await scratch.start();
    const sql = containerTargetFor(docker, scratch.id, `${h.project} restore scratch`, { database: o.database, user: o.user, password: undefined });
    const q = async (text: string, db: string) => {
      const s = await sql.connect({ database: db, appName: 'modelship restore check' });
      try {
        return await s.query<Record<string, unknown>>(text);
      } finally {
        await s.end();
      }
    };
    await waitPromotedInContainer(scratch, q, o.replayTimeoutMs ?? 6 * 3600_000);
    const facts: RestoredFacts = await checkRestored(q, o.database, o.checkSql);
    const hist = (await q("select name, pg_read_file('pg_wal/' || name) as text from pg_ls_waldir() where name like '%.history' order by name desc limit 1", 'postgres'))[0];
    log(`recovered to ${facts.recoveredTo ?? 'the end of the base backup'}: ${facts.tables} tables in ${o.database}${facts.checkSql ? `, --check-sql gave ${JSON.stringify(facts.checkSql.result)}` : ''}`);
    await scratch.stop({ t: 120 });
    const exit = (await scratch.wait()) as { StatusCode: number };
    if (exit.StatusCode !== 0) throw new UserError(`the scratch server did not shut down cleanly (exit ${exit.StatusCode}); nothing was swapped`);
    await scratch.remove({ force: true });
    scratch = null;

    if (o.verifyOnly) {
      await runHelper(c, 'cleanup', repairScript());
      const durationMs = Math.round(performance.now() - t0);
      await writeRehearsal(o.layout.rehearsal, { at: now().toISOString(), ok: true, base: base.name, target: describeTarget(o.target), recoveredTo: facts.recoveredTo, tables: facts.tables, durationMs });
      return { ok: true, verifyOnly: true, base: base.name, target: describeTarget(o.target), ...facts, durationMs, downtimeMs: 0, volume: c.volume, volumeCreated, previous: null, repaired, walSetAside: [], warnings };
    }

    // Proven: from here on a killed restore is finished by the next one, never undone.
    await runHelper(c, 'prove', proveScript(stamp));
    const td = performance.now();
    for (const id of await stopAll(docker, await liveIds(), log)) stoppedByUs.add(id);
    const out = await runHelper(c, 'swap', swapScript(stamp));
    swapped = true;
    const previous = /^kept /m.test(out) ? n.previous : null;
    const ids = await startPostgres(docker, h, view, pgDesired, await liveIds(), log);
    for (const id of ids) stoppedByUs.delete(id);
    for (const id of ids) await waitReady(docker, id, { timeoutMs: 300_000, test: pgSpec?.healthcheck?.test });
    const downtimeMs = Math.round(performance.now() - td);

    let walSetAside: string[] = [];
    const hf = hist ? historyFacts(String(hist.name), String(hist.text)) : null;
    if (hf) {
      try {
        walSetAside = (await setAsideForHistory(o.layout.wal, hf, path.join(o.layout.root, `wal-abandoned-${stamp}`), base.walSegmentSize)).moved;
        if (walSetAside.length) log(`moved ${walSetAside.length} WAL segment(s) of the abandoned timeline aside to pitr/wal-abandoned-${stamp}`);
      } catch (err) {
        warnings.push(`could not move the abandoned timeline's WAL aside in ${o.layout.wal}: ${errorMessage(err)} (run the restore as the backup directory's owner)`);
      }
    }
    // The receiver resumes on the new timeline (and creates its slot again: base backups do not carry slots).
    for (const bk of await serviceContainers(h, SERVICE.dbBackup)) {
      await docker.getContainer(bk.Id).restart({ t: 30 }).catch((err: unknown) => warnings.push(`could not restart ${bk.Names[0]}: ${errorMessage(err)}`));
    }
    return {
      ok: true,
      verifyOnly: false,
      base: base.name,
      target: describeTarget(o.target),
      ...facts,
      durationMs: Math.round(performance.now() - t0),
      downtimeMs,
      volume: c.volume,
      volumeCreated,
      previous,
      repaired,
      walSetAside,
      warnings,
    };
  } catch (err) {
    if (o.verifyOnly) {
      await writeRehearsal(o.layout.rehearsal, { at: now().toISOString(), ok: false, base: base.name, target: describeTarget(o.target), recoveredTo: null, tables: 0, durationMs: Math.round(performance.now() - t0), error: errorMessage(err) }).catch(() => undefined);
    }
    throw err;
  } finally {
    await unpin();
    if (plainRoot) await rm(plainRoot, { recursive: true, force: true }).catch(() => undefined);
    if (scratch) await scratch.remove({ force: true }).catch(() => undefined);
    if (!swapped) {
      // Nothing swapped: the scratch cluster goes (a proven one whose swap never began included), the live one runs again.
      await runHelper(c, 'cleanup', repairScript()).catch((err: unknown) => log(`could not clean up ${c.volume}:/${n.dir}: ${errorMessage(err)} (the next restore does)`));
      for (const id of stoppedByUs) await docker.getContainer(id).start().catch(() => undefined);
    }
  }
  });
}

/** Starts the stack's postgres again (created from the config when the destruction took its container too). */
async function startPostgres(docker: Docker, h: StackHandle, view: Awaited<ReturnType<typeof viewStack>>, desired: (typeof view.desired.containers)[number] | undefined, existing: string[], log: Log): Promise<string[]> {
  if (existing.length > 0) {
    for (const id of existing) await docker.getContainer(id).start().catch((err: unknown) => {
      if ((err as { statusCode?: number }).statusCode !== 304) throw err;
    });
    return existing;
  }
  if (!desired) throw new UserError('the config has no postgres service to start on the restored data', { hint: 'run `modelship deploy`' });
  log(`creating ${desired.name} again`);
  // Its bind mounts (pg_hba, init scripts) are rendered files: a host that never deployed has none.
  await renderStackFiles(h, { ...view.state, activeColor: view.activeColor });
  for (const net of view.desired.networks) await createNetwork(docker, net);
  return [await createAndStart(docker, desired)];
}

async function waitPromotedInContainer(ct: Docker.Container, q: (sql: string, db: string) => Promise<Array<Record<string, unknown>>>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    const info = await ct.inspect();
    if (!info.State.Running) {
      const logs = demuxLogs(await ct.logs({ stdout: true, stderr: true, tail: 200, follow: false }));
      throw replayFailure(logs);
    }
    try {
      const r = await q('select pg_is_in_recovery() as rec', 'postgres');
      if (r[0]?.rec === false || r[0]?.rec === 'f') return;
    } catch (err) {
      lastErr = errorMessage(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new UserError(`WAL replay did not finish within ${Math.round(timeoutMs / 1000)}s; nothing was changed${lastErr ? ` (last: ${lastErr})` : ''}`);
}
