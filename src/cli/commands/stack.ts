import type { Command } from 'commander';
import { action, type CommandContext, type RunEnvironment } from '../context.ts';
import { formatProblem, loadConfig, type LoadedConfig } from '../../config/load.ts';
import { buildImage } from '../../ops/build.ts';
import { audit, down, logs, ps, restart } from '../../ops/containers.ts';
import { deploy, edgeBlink } from '../../ops/deploy.ts';
import { ask, confirm } from '../prompt.ts';
import { withSignals } from '../signals.ts';
import { scale } from '../../ops/scale.ts';
import { update } from '../../ops/update.ts';
import { openStack, viewStack, type StackHandle } from '../../ops/stack.ts';
import { describeAction, planChanges } from '../../docker/plan.ts';
import { connectDocker } from '../../docker/client.ts';
import { parseDurationSeconds, parseSince } from '../../util/duration.ts';
import { UsageError, UserError } from '../../util/errors.ts';
import { columns } from '../../util/table.ts';
import { swarmAudit, swarmDeploy, swarmDown, swarmLogs, swarmPs, swarmScale, swarmTarget, TARGET_FLAG } from './swarm-stack.ts';

const HOST_FLAG = ['-H, --host <url>', 'Docker Engine to use (unix://, tcp://, ssh://; default DOCKER_HOST)'] as const;

async function load(ctx: CommandContext): Promise<LoadedConfig> {
  const loaded = await loadConfig(ctx.global.config, ctx.global.envFile);
  for (const w of loaded.warnings) ctx.out.warn(formatProblem(w, false));
  return loaded;
}

async function stack(ctx: CommandContext, host?: string, loaded?: LoadedConfig): Promise<StackHandle> {
  return openStack(loaded ?? (await load(ctx)), ctx.env, host);
}

// Long because: the commander declaration of the stack commands (build, plan, deploy, ps, logs, scale, restart, down, update, audit), one short action each.
export function register(program: Command, runEnv: RunEnvironment): void {
  program
    .command('build')
    .description('build the API image from templates/Dockerfile through the Docker Engine API')
    .option('--tag <image>', 'image tag (default: images.api from the config)')
    .option('--base-image <image>', 'Node 24 base image with npm (default node:24-trixie-slim)')
    .option('--ca-file <pem>', 'CA bundle the build trusts for npm (TLS-intercepting proxies)')
    .option('--no-cache', 'build without the layer cache')
    .option(...HOST_FLAG)
    .action(
      action(runEnv, async (ctx, opts: { tag?: string; baseImage?: string; caFile?: string; cache: boolean; host?: string }) => {
        let tag = opts.tag;
        let docker;
        if (!tag) {
          const h = await stack(ctx, opts.host);
          tag = h.loaded.config.images.api;
          docker = h.docker;
        } else {
          docker = connectDocker(opts.host ? { ...ctx.env, DOCKER_HOST: opts.host } : ctx.env);
        }
        const r = await buildImage(docker, {
          tag,
          ...(opts.baseImage ? { baseImage: opts.baseImage } : {}),
          ...(opts.caFile ? { caFile: opts.caFile } : {}),
          noCache: !opts.cache,
          onLine: ctx.out.json ? undefined : (l) => ctx.out.info(l),
        });
        if (ctx.out.json) ctx.out.data({ ok: true, ...r });
        else ctx.out.out(`built ${r.imageId.slice(0, 19)} as ${r.tags.join(', ')} in ${(r.durationMs / 1000).toFixed(1)} s`);
      }),
    );

  program
    .command('plan')
    .description('show what a deploy would do, from a diff of the config against the engine')
    .option(...HOST_FLAG)
    .action(
      action(runEnv, async (ctx, opts: { host?: string }) => {
        const h = await stack(ctx, opts.host);
        const v = await viewStack(h);
        const p = v.plan;
        if (ctx.out.json) {
          ctx.out.data({
            project: h.project,
            activeColor: v.activeColor,
            changes: planChanges(p),
            networks: p.networks,
            volumes: p.volumes,
            containers: p.containers.map((a) => ({ action: a.kind, service: a.service, container: a.name, ...(a.kind === 'recreate' ? { reasons: a.reasons } : {}), ...('reason' in a ? { reason: a.reason } : {}) })),
            ...(edgeBlink(p) ? { edgeBlink: edgeBlink(p) } : {}),
            missingImages: [...new Set(v.desired.containers.map((c) => c.create.Image))].filter((i) => !v.images[i]),
          });
          return;
        }
        for (const n of p.networks) ctx.out.out(`create    network ${n}`);
        for (const vol of p.volumes) ctx.out.out(`create    volume ${vol}`);
        for (const a of p.containers) ctx.out.out(describeAction(a));
        const missing = [...new Set(v.desired.containers.map((c) => c.create.Image))].filter((i) => !v.images[i]);
        for (const m of missing) ctx.out.warn(`image ${m} is not on the engine: deploy will try to pull it`);
        const blink = edgeBlink(p);
        if (blink) ctx.out.warn(`${blink}; deploy asks first (--yes to confirm in scripts)`);
        ctx.out.info(planChanges(p) === 0 ? 'nothing to do: the stack matches the config' : `${planChanges(p)} change(s)`);
      }),
    );

  program
    .command('deploy')
    .description('render, then bring the stack to the config: create, recreate, start, gate on health, migrate')
    .option('--dry-run', 'show the plan, change nothing', false)
    .option('--timeout <duration>', 'per-service health timeout', '120s')
    .option('--force', 'break a stale stack lock', false)
    .option(...HOST_FLAG)
    .option(...TARGET_FLAG)
    .action(
      action(runEnv, async (ctx, opts: { dryRun: boolean; timeout: string; force: boolean; host?: string; target?: string }) => {
        const timeoutSeconds = parseDurationSeconds(opts.timeout, '--timeout');
        const loaded = await load(ctx);
        if (swarmTarget(loaded, opts.target)) return swarmDeploy(ctx, loaded, { dryRun: opts.dryRun, timeoutSeconds, force: opts.force, host: opts.host });
        const h = await stack(ctx, opts.host, loaded);
        const r = await deploy(h, { dryRun: opts.dryRun, timeoutSeconds, force: opts.force, json: ctx.out.json, color: ctx.global.color, confirm: (q) => confirm(ctx, q) });
        if (ctx.out.json) {
          ctx.out.data({ ok: true, ...r });
          return;
        }
        const changes = r.actions.filter((a) => a.kind !== 'unchanged');
        if (opts.dryRun) {
          for (const n of r.networks) ctx.out.out(`create    network ${n}`);
          for (const v of r.volumes) ctx.out.out(`create    volume ${v}`);
          for (const a of r.actions) ctx.out.out(`${a.kind.padEnd(9)} ${a.container}${a.detail ? `  (${a.detail})` : ''}`);
          if (r.edgeBlink) ctx.out.warn(r.edgeBlink);
          ctx.out.info(changes.length + r.networks.length + r.volumes.length === 0 ? 'dry run: nothing to do' : 'dry run: nothing was changed');
        } else if (!r.changed) {
          ctx.out.out(`nothing to do: stack ${r.project} already matches the config (${r.actions.length} containers checked in ${r.durationMs} ms)`);
        } else {
          if (r.note) ctx.out.info(r.note);
          const count = (k: string): number => r.actions.filter((a) => a.kind === k).length;
          ctx.out.out(
            `deployed ${r.project} in ${(r.durationMs / 1000).toFixed(1)} s: ${count('create')} created, ${count('recreate')} recreated, ${count('start')} started, ${count('reload') ? `${count('reload')} reloaded, ` : ''}${count('remove')} removed, ${count('unchanged')} unchanged; active colour ${r.activeColor}`,
          );
        }
      }),
    );

  program
    .command('ps')
    .description('list the stack\'s containers: service, colour, state, health, image, uptime')
    .option(...HOST_FLAG)
    .option(...TARGET_FLAG)
    .action(
      action(runEnv, async (ctx, opts: { host?: string; target?: string }) => {
        const loaded = await load(ctx);
        if (swarmTarget(loaded, opts.target)) return swarmPs(ctx, loaded, opts.host);
        const h = await stack(ctx, opts.host, loaded);
        const r = await ps(h);
        if (ctx.out.json) {
          ctx.out.data(r);
          return;
        }
        if (r.containers.length === 0) {
          ctx.out.info(`stack ${r.project} has no containers: run \`modelship deploy\``);
          return;
        }
        const rows = [['SERVICE', 'CONTAINER', 'COLOUR', 'STATE', 'HEALTH', 'UPTIME', 'IMAGE', 'PORTS']];
        for (const c of r.containers) {
          rows.push([c.service, c.container, c.color ? `${c.color}${c.active ? ' (active)' : ''}` : '', c.state, c.health, c.uptime, c.image, c.ports.join(',')]);
        }
        for (const l of columns(rows)) ctx.out.out(l);
        if (r.activeColor) {
          const col = r.colors[r.activeColor];
          ctx.out.info(`active colour: ${r.activeColor}${col ? ` (${col.image} since ${col.since})` : ''}`);
        }
        if (r.switching) ctx.out.warn(`a ${r.switching.operation} ${r.switching.from} → ${r.switching.to} was interrupted (${r.switching.since}): the next swap, rollback or deploy settles it from what nginx serves`);
      }),
    );

  program
    .command('logs [service]')
    .description('show (or follow) the logs of one service or the whole stack')
    .option('-f, --follow', 'keep streaming', false)
    .option('--since <when>', 'only lines newer than this (10m, 2h, or a timestamp)')
    .option('--tail <n>', 'last N lines per container')
    .option('--grep <regex>', 'only lines matching')
    .option(...HOST_FLAG)
    .option(...TARGET_FLAG)
    .action(
      action(runEnv, async (ctx, service: string | undefined, opts: { follow: boolean; since?: string; grep?: string; tail?: string; host?: string; target?: string }) => {
        const loaded = await load(ctx);
        const tail = opts.tail === undefined ? undefined : Number(opts.tail);
        if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw new UsageError(`--tail ${opts.tail}: expected a whole number`);
        if (swarmTarget(loaded, opts.target)) {
          const sinceSeconds = opts.since ? parseSince(opts.since) : undefined;
          return swarmLogs(ctx, loaded, service, { follow: opts.follow, tail, sinceSeconds, grep: opts.grep, host: opts.host });
        }
        const h = await stack(ctx, opts.host, loaded);
        await withSignals(
          (signal) =>
            logs(
              h,
              { ...(service ? { service } : {}), follow: opts.follow, ...(opts.since ? { since: opts.since } : {}), ...(opts.grep ? { grep: opts.grep } : {}), ...(tail !== undefined ? { tail } : {}) },
              (container, line) => (ctx.out.json ? ctx.out.out(JSON.stringify({ container, line })) : ctx.out.out(`${ctx.out.c.cyan(container)} | ${line}`)),
              signal,
            ),
          { signals: ['SIGINT'] },
        );
      }),
    );

  program
    .command('scale <assignments...>')
    .description('scale queue workers or the active API colour, e.g. `modelship scale worker=3 api=2` (until the next deploy applies the config)')
    .option('--timeout <duration>', 'per-container health timeout', '120s')
    .option('--force', 'break a stale stack lock', false)
    .option(...HOST_FLAG)
    .option(...TARGET_FLAG)
    .action(
      action(runEnv, async (ctx, assignments: string[], opts: { timeout: string; force: boolean; host?: string; target?: string }) => {
        const loaded = await load(ctx);
        if (swarmTarget(loaded, opts.target)) return swarmScale(ctx, loaded, assignments, { timeoutSeconds: parseDurationSeconds(opts.timeout, '--timeout'), force: opts.force, host: opts.host });
        const h = await stack(ctx, opts.host, loaded);
        const { replicas, deploy: r } = await scale(h, assignments, {
          timeoutSeconds: parseDurationSeconds(opts.timeout, '--timeout'),
          force: opts.force,
          json: ctx.out.json,
          color: ctx.global.color,
        });
        if (ctx.out.json) ctx.out.data({ ok: true, replicas, ...r });
        else ctx.out.out(Object.entries(replicas).map(([s, n]) => `${s}: ${n} replica${n === 1 ? '' : 's'}`).join(', ') + (r.changed ? '' : ' (already)'));
      }),
    );

  program
    .command('restart <service>')
    .description('restart a service\'s containers one at a time, each gated on health')
    .option('--timeout <duration>', 'health timeout per container', '120s')
    .option('--force', 'break a stale stack lock', false)
    .option(...HOST_FLAG)
    .action(
      action(runEnv, async (ctx, service: string, opts: { timeout: string; force: boolean; host?: string }) => {
        const h = await stack(ctx, opts.host);
        const names = await restart(h, service, { timeoutSeconds: parseDurationSeconds(opts.timeout, '--timeout'), force: opts.force });
        if (ctx.out.json) ctx.out.data({ ok: true, restarted: names });
        else ctx.out.out(`restarted ${names.join(', ')}`);
      }),
    );

  program
    .command('down')
    .description('stop and remove the stack\'s containers and networks (and with --volumes its data)')
    .option('--volumes', 'also delete the volumes: the database and every other piece of data', false)
    .option('--force', 'break a stale stack lock', false)
    .option(...HOST_FLAG)
    .option(...TARGET_FLAG)
    .action(
      action(runEnv, async (ctx, opts: { volumes: boolean; force: boolean; host?: string; target?: string }) => {
        const loaded = await load(ctx);
        if (swarmTarget(loaded, opts.target)) {
          if (opts.volumes) throw new UsageError('down --volumes: on a swarm the volumes live on the nodes that ran the data services', 'run `modelship down`, then `docker volume rm` the stack\'s volumes on each node (`docker volume ls --filter label=com.docker.stack.namespace=PROJECT`)');
          return swarmDown(ctx, loaded, { force: opts.force, host: opts.host });
        }
        const h = await stack(ctx, opts.host, loaded);
        if (opts.volumes && !ctx.global.yes) {
          const answer = await ask(
            `Delete every volume of stack ${h.project}, including the database? Type the project name to confirm: `,
            () => new UsageError('down --volumes deletes the database and every volume of the stack', 'add --yes to confirm (no terminal to ask on)'),
          );
          if (answer.trim() !== h.project) throw new UserError('not confirmed: nothing was deleted');
        }
        const r = await down(h, { volumes: opts.volumes, force: opts.force });
        if (ctx.out.json) ctx.out.data({ ok: true, ...r });
        else ctx.out.out(`removed ${r.containers.length} container(s), ${r.networks.length} network(s)${opts.volumes ? `, ${r.volumes.length} volume(s)` : ''}`);
      }),
    );

  program
    .command('update')
    .description('pull newer versions of the pinned images, redeploy what changed, prune dangling images')
    .option('--timeout <duration>', 'per-service health timeout', '120s')
    .option('--force', 'break a stale stack lock', false)
    .option(...HOST_FLAG)
    .action(
      action(runEnv, async (ctx, opts: { timeout: string; force: boolean; host?: string }) => {
        const h = await stack(ctx, opts.host);
        const u = await update(h, { timeoutSeconds: parseDurationSeconds(opts.timeout, '--timeout'), force: opts.force, json: ctx.out.json, color: ctx.global.color });
        for (const f of u.failed) ctx.out.warn(`could not pull ${f.image}: ${f.reason}${f.keptLocal ? ' (keeping the local copy)' : ''}`);
        if (ctx.out.json) ctx.out.data({ ok: true, ...u });
        else ctx.out.out(`${u.changedImages.length} image(s) newer; ${u.deploy.changed ? 'redeployed what changed' : 'nothing to redeploy'}; ${u.pruned} dangling image(s) pruned`);
      }),
    );

  program
    .command('audit')
    .description('show the audit log kept on the Docker host (who did what, when, with what result)')
    .option('-n, --lines <n>', 'last N entries', '50')
    .option(...HOST_FLAG)
    .option(...TARGET_FLAG)
    .action(
      action(runEnv, async (ctx, opts: { lines: string; host?: string; target?: string }) => {
        const loaded = await load(ctx);
        const n = Number(opts.lines);
        if (!Number.isInteger(n) || n < 1) throw new UsageError(`--lines ${opts.lines}: expected a whole number`);
        if (swarmTarget(loaded, opts.target)) return swarmAudit(ctx, loaded, n, opts.host);
        const h = await stack(ctx, opts.host, loaded);
        const entries = (await audit(h)).slice(-n);
        if (ctx.out.json) {
          ctx.out.data(entries);
          return;
        }
        if (entries.length === 0) ctx.out.info(`no audit entries for stack ${h.project} yet`);
        for (const e of entries) ctx.out.out(`${e.time}  ${`${e.user}@${e.host}`.padEnd(24)}  ${e.result.padEnd(7)}  ${e.command}${e.detail ? `  ${e.detail.slice(0, 200)}` : ''}`);
      }),
    );
}
