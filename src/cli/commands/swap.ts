import type { Command } from 'commander';
import { action, type CommandContext, type RunEnvironment } from '../context.ts';
import { formatProblem, loadConfig } from '../../config/load.ts';
import { openStack } from '../../ops/stack.ts';
import { swapOrRollback, type SwapResult } from '../../ops/swap.ts';
import { parseDurationSeconds } from '../../util/duration.ts';
import { swarmSwap, swarmTarget, TARGET_FLAG } from './swarm-stack.ts';

function print(ctx: CommandContext, r: SwapResult): void {
  if (ctx.out.json) {
    ctx.out.data({ ok: true, ...r });
    return;
  }
  const t = r.timingsMs;
  if (r.brokeStaleLock) ctx.out.warn(`broke the stale lock of ${r.brokeStaleLock}`);
  if (r.resumed) ctx.out.info(r.resumed);
  ctx.out.out(`${r.operation === 'swap' ? 'swapped' : 'rolled back'}: ${r.from} → ${r.to} now serving ${r.image} (${(t.total / 1000).toFixed(1)} s)`);
  ctx.out.info(
    `image check ${t.imageCheck} ms, start ${t.start} ms, health gate ${t.healthGate} ms, switch ${t.switch} ms, drain ${t.drain} ms, workers ${t.workers} ms; ${r.from} is stopped and kept: \`modelship rollback\` returns to it`,
  );
}

export function register(program: Command, runEnv: RunEnvironment): void {
  const common = (cmd: Command): Command =>
    cmd
      .option('--health-timeout <duration>', 'how long the new colour gets to become ready', '60s')
      .option('--drain-timeout <duration>', 'how long the old colour gets to finish its requests', '30s')
      .option('--force', 'break a stale stack lock', false)
      .option('-H, --host <url>', 'Docker Engine to use (default DOCKER_HOST)')
      .option(...TARGET_FLAG);

  type Opts = { image?: string; healthTimeout: string; drainTimeout: string; force: boolean; host?: string; target?: string };
  const run = (mode: 'swap' | 'rollback') =>
    action(runEnv, async (ctx, opts: Opts) => {
      const health = parseDurationSeconds(opts.healthTimeout, '--health-timeout');
      const drain = parseDurationSeconds(opts.drainTimeout, '--drain-timeout');
      const loaded = await loadConfig(ctx.global.config, ctx.global.envFile);
      for (const w of loaded.warnings) ctx.out.warn(formatProblem(w, false));
      if (swarmTarget(loaded, opts.target)) return swarmSwap(ctx, loaded, mode, { image: opts.image, timeoutSeconds: health + drain, force: opts.force, host: opts.host });
      const h = openStack(loaded, ctx.env, opts.host);
      const r = await swapOrRollback(h, mode, {
        image: opts.image,
        healthTimeoutSeconds: health,
        drainTimeoutSeconds: drain,
        force: opts.force,
        json: ctx.out.json,
        color: ctx.global.color,
      });
      print(ctx, r);
    });

  common(program.command('swap'))
    .description('release a new API image with zero failed requests: start the idle colour, gate, switch nginx, drain the old one')
    .option('--image <tag>', 'the API image to release (default: images.api from the config)')
    .action(run('swap'));
  common(program.command('rollback'))
    .description('make the previous colour active again through the same gated path')
    .action(run('rollback'));
}
