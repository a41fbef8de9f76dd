import type { Command } from 'commander';
import { action, type RunEnvironment } from '../context.ts';
import { formatProblem, loadConfig } from '../../config/load.ts';
import { openStack } from '../../ops/stack.ts';
import { collectSnapshot, type CollectorState } from '../../ops/status.ts';
import { exitCodeOf } from '../../ops/status-model.ts';
import { snapshotText, watchLine } from '../format/status.ts';
import { parseDurationSeconds } from '../../util/duration.ts';
import { UsageError } from '../../util/errors.ts';
import { withSignals } from '../signals.ts';
import { swarmStatus, swarmTarget, TARGET_FLAG } from './swarm-stack.ts';

export function register(program: Command, runEnv: RunEnvironment): void {
  program
    .command('status')
    .description('live view of the stack in a terminal (q quits); one snapshot otherwise (exit 1 when something is down)')
    .option('--watch', 'plain mode: print one line per interval until interrupted', false)
    .option('--interval <duration>', 'refresh interval', '2s')
    .option('--plain', 'one plain-text snapshot even in a terminal', false)
    .option('-H, --host <url>', 'Docker Engine to use (unix://, tcp://, ssh://; default DOCKER_HOST)')
    .option(...TARGET_FLAG)
    .action(
      action(runEnv, async (ctx, opts: { watch: boolean; interval: string; plain: boolean; host?: string; target?: string }) => {
        const intervalSeconds = parseDurationSeconds(opts.interval, '--interval');
        if (intervalSeconds < 1) throw new UsageError('--interval: at least 1s');
        const loaded = await loadConfig(ctx.global.config, ctx.global.envFile);
        for (const w of loaded.warnings) ctx.out.warn(formatProblem(w, false));
        if (swarmTarget(loaded, opts.target)) return swarmStatus(ctx, loaded, opts.host);
        const h = openStack(loaded, ctx.env, opts.host);
        const tty = runEnv.streams.stdout.isTTY === true && process.stdin.isTTY === true && ctx.env.TERM !== 'dumb';
        if (tty && !ctx.out.json && !opts.plain && !opts.watch) {
          const { runLiveStatus } = await import('../../tui/live.ts');
          await runLiveStatus(h, { intervalMs: intervalSeconds * 1000 });
          return 0;
        }
        const st: CollectorState = {};
        if (!opts.watch) {
          const snap = await collectSnapshot(h, st);
          if (ctx.out.json) ctx.out.data({ ok: exitCodeOf(snap) === 0, ...snap });
          else for (const l of snapshotText(snap)) ctx.out.out(l);
          return exitCodeOf(snap);
        }
        // --watch: a line (or a compact JSON document) per interval until SIGINT/SIGTERM.
        let last = 0;
        await withSignals(async (signal) => {
          while (!signal.aborted) {
            const t0 = Date.now();
            const snap = await collectSnapshot(h, st);
            last = exitCodeOf(snap);
            ctx.out.out(ctx.out.json ? JSON.stringify(snap) : watchLine(snap));
            const wait = Math.max(0, intervalSeconds * 1000 - (Date.now() - t0));
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, wait);
              signal.addEventListener('abort', () => {
                clearTimeout(t);
                resolve();
              }, { once: true });
            });
          }
        });
        return last;
      }),
    );
}
