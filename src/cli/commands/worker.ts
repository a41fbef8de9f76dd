import type { Command } from 'commander';
import { action, type RunEnvironment } from '../context.ts';
import { settingsFor } from '../../services/connect.ts';
import { runWorker } from '../../queue/run.ts';
import { UsageError } from '../../util/errors.ts';
import { configExplicit, parsePort } from './serve.ts';

export function register(program: Command, runEnv: RunEnvironment): void {
  program
    .command('worker')
    .description('run a batch-job queue worker (BullMQ consumer); finishes its jobs on SIGTERM')
    .option('--metrics-port <port>', 'serve /health and /metrics on this port')
    .option('--concurrency <n>', 'jobs at once (default workers.concurrency from the config)')
    .action(
      action(runEnv, async (ctx, opts: { metricsPort?: string; concurrency?: string }) => {
        let concurrency: number | undefined;
        if (opts.concurrency !== undefined) {
          concurrency = Number(opts.concurrency);
          if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new UsageError(`--concurrency must be a whole number from 1 to 64, got ${opts.concurrency}`);
        }
        const explicit = configExplicit(ctx.env);
        const { settings } = await settingsFor({ configFile: ctx.global.config, envFile: ctx.global.envFile, explicit, env: ctx.env });
        const w = await runWorker({ settings, env: ctx.env, metricsPort: parsePort(opts.metricsPort, '--metrics-port'), concurrency, log: (l) => ctx.out.info(l), signals: true });
        await w.closed;
        return 0;
      }),
    );
}
