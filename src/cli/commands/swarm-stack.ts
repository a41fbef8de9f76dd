/**
 * The stack commands' swarm branch (`orchestrator: swarm` or `--target swarm`): parse nothing new,
 * call src/swarm, print. The single-host commands hand over here before they touch an engine.
 */
import type { CommandContext } from '../context.ts';
import type { LoadedConfig } from '../../config/load.ts';
import { deploySwarm, isSwarm, openSwarm, type SwarmDeployResult } from '../../swarm/deploy.ts';
import { downSwarm, logsSwarm, psSwarm, scaleSwarm, statusSwarm } from '../../swarm/ops.ts';
import { swapSwarm } from '../../swarm/swap.ts';
import { readSwarmAudit } from '../../swarm/cluster-state.ts';
import { nodeTable } from '../../swarm/nodes.ts';
import { UsageError } from '../../util/errors.ts';

export const TARGET_FLAG = ['--target <orchestrator>', 'single-host or swarm (default: orchestrator in the config)'] as const;

/** Whether this invocation goes to a swarm; refuses an unknown --target. */
export function swarmTarget(loaded: LoadedConfig, target: string | undefined): boolean {
  if (target !== undefined && target !== 'swarm' && target !== 'single-host') throw new UsageError(`--target ${target}: expected single-host or swarm`);
  return isSwarm(loaded.config, target);
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

const step = (ctx: CommandContext) => (ctx.out.json ? undefined : (l: string) => ctx.out.info(l));

function printDeploy(ctx: CommandContext, r: SwarmDeployResult, dryRun: boolean): void {
  if (ctx.out.json) {
    ctx.out.data({ ok: true, ...r });
    return;
  }
  if (dryRun) {
    for (const n of r.networks) ctx.out.out(`create    network ${n} (overlay)`);
    for (const c of r.configs) ctx.out.out(`create    config ${c}`);
    for (const s of r.secrets) ctx.out.out(`create    secret ${s}`);
    for (const a of r.actions) ctx.out.out(`${a.kind.padEnd(9)} ${a.name}${a.kind === 'unchanged' ? '' : `: ${a.detail}`}`);
    const changes = r.actions.filter((a) => a.kind !== 'unchanged').length + r.networks.length + r.configs.length + r.secrets.length;
    ctx.out.info(changes === 0 ? 'dry run: nothing to do' : 'dry run: nothing was changed');
    return;
  }
  if (!r.changed) {
    ctx.out.out(`nothing to do: stack ${r.project} on the swarm already matches the config (${r.actions.length} services checked in ${r.durationMs} ms)`);
    return;
  }
  const count = (k: string): number => r.actions.filter((a) => a.kind === k).length;
  ctx.out.out(`deployed ${r.project} to the swarm in ${(r.durationMs / 1000).toFixed(1)} s: ${count('create')} created, ${count('update')} updated, ${count('remove')} removed, ${count('unchanged')} unchanged; active colour ${r.activeColor}`);
}

export async function swarmDeploy(ctx: CommandContext, loaded: LoadedConfig, opts: { dryRun: boolean; timeoutSeconds: number; force: boolean; host?: string | undefined }): Promise<void> {
  const h = openSwarm(loaded, ctx.env, opts.host);
  const r = await deploySwarm(h, { dryRun: opts.dryRun, timeoutSeconds: opts.timeoutSeconds, force: opts.force, ...(step(ctx) ? { onStep: step(ctx)! } : {}) });
  printDeploy(ctx, r, opts.dryRun);
}

export async function swarmPs(ctx: CommandContext, loaded: LoadedConfig, host?: string): Promise<void> {
  const r = await psSwarm(openSwarm(loaded, ctx.env, host));
  if (ctx.out.json) {
    ctx.out.data(r);
    return;
  }
  if (r.tasks.length === 0) {
    ctx.out.info(`stack ${r.project} has no tasks on this swarm: run \`modelship deploy\``);
    return;
  }
  const rows = [['SERVICE', 'TASK', 'NODE', 'STATE', 'IMAGE', 'ERROR']];
  for (const t of r.tasks) rows.push([t.service, t.task, t.node, t.desired === t.state ? t.state : `${t.state} (→ ${t.desired})`, t.image, t.error]);
  for (const l of table(rows)) ctx.out.out(l);
  if (r.activeColor) ctx.out.info(`active colour: ${r.activeColor}`);
}

export async function swarmStatus(ctx: CommandContext, loaded: LoadedConfig, host?: string): Promise<number> {
  const s = await statusSwarm(openSwarm(loaded, ctx.env, host));
  const bad = s.unavailableNodes.length > 0 || s.unschedulable.length > 0 || s.services.some((x) => x.desired !== 'global' && x.running < x.desired);
  if (ctx.out.json) {
    ctx.out.data({ ok: !bad, ...s });
    return bad ? 1 : 0;
  }
  ctx.out.out(`stack ${s.project} on the swarm; active colour ${s.activeColor ?? '-'}`);
  ctx.out.out('');
  for (const l of nodeTable(s.nodes)) ctx.out.out(l);
  ctx.out.out('');
  const rows = [['SERVICE', 'RUNNING', 'IMAGE', 'PROBLEMS']];
  for (const x of s.services) rows.push([x.service, `${x.running}/${x.desired}`, x.image, x.problems.join('; ')]);
  for (const l of table(rows)) ctx.out.out(l);
  ctx.out.out('');
  for (const [node, per] of Object.entries(s.tasksPerNode).sort(([a], [b]) => a.localeCompare(b))) {
    ctx.out.out(`${node}: ${Object.entries(per).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}×${v}`).join(', ')}`);
  }
  for (const u of s.unavailableNodes) ctx.out.warn(`node ${u.hostname} cannot take tasks: ${u.reason}`);
  for (const u of s.unschedulable) ctx.out.warn(`unschedulable: ${u.service}${u.slot ? `.${u.slot}` : ''}: ${u.reason}`);
  return bad ? 1 : 0;
}

export async function swarmLogs(ctx: CommandContext, loaded: LoadedConfig, service: string | undefined, opts: { follow: boolean; tail?: number | undefined; sinceSeconds?: number | undefined; grep?: string | undefined; host?: string | undefined }): Promise<void> {
  const re = opts.grep ? new RegExp(opts.grep) : undefined;
  await logsSwarm(openSwarm(loaded, ctx.env, opts.host), service, {
    follow: opts.follow,
    tail: opts.tail,
    since: opts.sinceSeconds,
    write: (l) => {
      if (!re || re.test(l)) ctx.out.out(l);
    },
  });
}

export async function swarmScale(ctx: CommandContext, loaded: LoadedConfig, assignments: string[], opts: { timeoutSeconds: number; force: boolean; host?: string | undefined }): Promise<void> {
  const { replicas, deploy } = await scaleSwarm(openSwarm(loaded, ctx.env, opts.host), assignments, { timeoutSeconds: opts.timeoutSeconds, force: opts.force, ...(step(ctx) ? { onStep: step(ctx)! } : {}) });
  if (ctx.out.json) ctx.out.data({ ok: true, replicas, ...deploy });
  else ctx.out.out(Object.entries(replicas).map(([s, n]) => `${s}: ${n} task${n === 1 ? '' : 's'} across the nodes`).join(', ') + (deploy.changed ? '' : ' (already)'));
}

export async function swarmDown(ctx: CommandContext, loaded: LoadedConfig, opts: { force: boolean; host?: string | undefined }): Promise<void> {
  const r = await downSwarm(openSwarm(loaded, ctx.env, opts.host), { force: opts.force, timeoutSeconds: 300, ...(step(ctx) ? { onStep: step(ctx)! } : {}) });
  if (ctx.out.json) ctx.out.data({ ok: true, ...r });
  else ctx.out.out(`removed ${r.services.length} service(s), ${r.networks.length} network(s), ${r.configs.length} config(s), ${r.secrets.length} secret(s) from the swarm; volumes stay on their nodes (\`docker volume ls\` there)`);
}

export async function swarmAudit(ctx: CommandContext, loaded: LoadedConfig, lines: number, host?: string): Promise<void> {
  const h = openSwarm(loaded, ctx.env, host);
  const entries = await readSwarmAudit(h.docker, h.project, lines);
  if (ctx.out.json) {
    ctx.out.data(entries);
    return;
  }
  if (entries.length === 0) ctx.out.info(`no audit entries for stack ${h.project} on this swarm yet`);
  for (const e of entries) ctx.out.out(`${e.at}  ${e.host.padEnd(20)}  ${e.result.padEnd(7)}  ${e.command}${e.detail ? `  ${e.detail.slice(0, 200)}` : ''}`);
}

export async function swarmSwap(ctx: CommandContext, loaded: LoadedConfig, mode: 'swap' | 'rollback', opts: { image?: string | undefined; timeoutSeconds: number; force: boolean; host?: string | undefined }): Promise<void> {
  const r = await swapSwarm(openSwarm(loaded, ctx.env, opts.host), mode, { image: opts.image, timeoutSeconds: opts.timeoutSeconds, force: opts.force, ...(step(ctx) ? { onStep: step(ctx)! } : {}) });
  if (ctx.out.json) ctx.out.data({ ok: true, ...r });
  else ctx.out.out(`${mode === 'swap' ? 'swapped' : 'rolled back'}: ${r.from} → ${r.to} now serving ${r.image} on ${r.replicas} task(s) (${(r.durationMs / 1000).toFixed(1)} s); ${r.from} is scaled to 0 and kept: \`modelship rollback\` returns to it`);
}
