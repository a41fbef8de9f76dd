import type { Command } from 'commander';
import { action, type RunEnvironment } from '../context.ts';
import { startServer } from '../../server/run.ts';
import { settingsFor } from '../../services/connect.ts';
import { UsageError } from '../../util/errors.ts';

/** Whether the user named a config file (then a missing file is an error, not "run on defaults"). */
export function configExplicit(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.MODELSHIP_CONFIG) || process.argv.some((a) => a === '-c' || a === '--config' || a.startsWith('--config=') || /^-c./.test(a));
}

export function parsePort(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number from 0 to 65535, got ${v}`);
  return n;
}

export function register(program: Command, runEnv: RunEnvironment): void {
  program
    .command('serve')
    .description('run the inference API server (classification, detection, jobs, health, metrics); drains on SIGTERM')
    .option('--host <host>', 'address to listen on (default 127.0.0.1 without auth, else 0.0.0.0)')
    .option('--port <port>', 'port to listen on (default api.port from the config, 8000)')
    .action(
      action(runEnv, async (ctx, opts: { host?: string; port?: string }) => {
        const explicit = configExplicit(ctx.env);
        const { settings, loaded } = await settingsFor({ configFile: ctx.global.config, envFile: ctx.global.envFile, explicit, env: ctx.env, host: opts.host, port: parsePort(opts.port, '--port') });
        if (!loaded) ctx.out.info(`no config file (${ctx.global.config}): running on defaults`);
        const running = await startServer({ settings, env: ctx.env, warn: (l) => ctx.out.warn(l), signals: true });
        ctx.out.info(`modelship API listening on ${running.url} (backend ${running.server.service.engine.backend.name})`);
        await running.closed;
        return 0;
      }),
    );
}
