import type { Command } from 'commander';
import { action, type RunEnvironment } from '../context.ts';
import { formatProblem, loadConfig } from '../../config/load.ts';
import { runChecks } from '../../ops/doctor/checks.ts';
import { gatherFacts } from '../../ops/doctor/gather.ts';
import { openStack } from '../../ops/stack.ts';

export function register(program: Command, runEnv: RunEnvironment): void {
  program
    .command('doctor')
    .description('check the setup against the production checklist: secrets, .env, TLS, CORS, limits, exposure, firewall, backups, headroom (exit 1 on any fail)')
    .option('-H, --host <url>', 'Docker Engine to use (unix://, tcp://, ssh://; default DOCKER_HOST)')
    .action(
      action(runEnv, async (ctx, opts: { host?: string }) => {
        const loaded = await loadConfig(ctx.global.config, ctx.global.envFile);
        for (const w of loaded.warnings) ctx.out.warn(formatProblem(w, false));
        const h = openStack(loaded, ctx.env, opts.host);
        const r = runChecks(await gatherFacts(h));
        if (ctx.out.json) {
          ctx.out.data({ project: h.project, environment: loaded.config.environment, ...r });
          return r.ok ? 0 : 1;
        }
        const c = ctx.out.c;
        const mark = { pass: c.green('PASS'), warn: c.yellow('WARN'), fail: c.red('FAIL') };
        for (const k of r.checks) {
          ctx.out.out(`${mark[k.status]}  ${k.title}: ${k.why}`);
          if (k.fix && k.status !== 'pass') ctx.out.out(`      fix: ${k.fix}`);
        }
        ctx.out.out('');
        ctx.out.out(`${h.project} (${loaded.config.environment}): ${r.summary.pass} passed, ${r.summary.warn} warning${r.summary.warn === 1 ? '' : 's'}, ${r.summary.fail} failed`);
        return r.ok ? 0 : 1;
      }),
    );
}
