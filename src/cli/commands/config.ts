import path from 'node:path';
import type { Command } from 'commander';
import { action, type RunEnvironment } from '../context.ts';
import { analyzeConfigFile, formatProblem, loadConfig } from '../../config/load.ts';
import { initProject, schemaText } from '../../ops/init.ts';
import { checkRendered, writeRendered } from '../../ops/render.ts';
import { renderForDir } from '../../render/for-dir.ts';
import { UsageError } from '../../util/errors.ts';

// Long because: the commander declaration of `config` and its subcommands, one short action each.
export function register(program: Command, runEnv: RunEnvironment): void {
  program
    .command('init')
    .description('write a commented modelship.config.yaml, its JSON Schema, and a .env with generated secrets (0600)')
    .option('--dir <dir>', 'directory to write into', '.')
    .option('--force', 'overwrite existing files (the old secrets are lost)', false)
    .option('--cores <n>', 'size for this many CPU cores instead of this machine\'s')
    .action(
      action(runEnv, async (ctx, opts: { dir: string; force: boolean; cores?: string }) => {
        let cores: number | undefined;
        if (opts.cores !== undefined) {
          cores = Number(opts.cores);
          if (!Number.isInteger(cores) || cores < 1 || cores > 1024) throw new UsageError(`--cores must be a whole number from 1 to 1024, got ${opts.cores}`);
        }
        const res = await initProject({ dir: path.resolve(ctx.cwd, opts.dir), force: opts.force, ...(cores ? { cores } : {}) });
        if (ctx.out.json) {
          ctx.out.data({ ok: true, ...res });
          return;
        }
        for (const f of res.files) ctx.out.out(`wrote ${path.relative(ctx.cwd, f.path) || f.path} (mode ${f.mode})`);
        ctx.out.info(
          `sized for ${res.cores} cores: ${res.sizing.apiWorkers} inference workers per API container, ${res.sizing.queueWorkers} queue workers`,
        );
        ctx.out.info('next: edit domains, tls.email and cors.origins, then `modelship config validate` and `modelship render`');
      }),
    );

  const config = program.command('config').description('check the config, or print its JSON Schema');
  config
    .command('validate')
    .description('report every problem in the config at once, each at file:line:col')
    .action(
      action(runEnv, async (ctx) => {
        const a = await analyzeConfigFile(ctx.global.config, ctx.global.envFile);
        const errors = a.problems.filter((p) => p.severity === 'error');
        const warnings = a.problems.filter((p) => p.severity === 'warning');
        if (ctx.out.json) {
          ctx.out.data({ ok: errors.length === 0, file: a.file, errors, warnings });
        } else {
          for (const p of a.problems) {
            const line = formatProblem(p, false);
            if (p.severity === 'error') ctx.out.error(line);
            else ctx.out.warn(line);
          }
          if (errors.length === 0) ctx.out.out(`${path.relative(ctx.cwd, a.file) || a.file}: valid${warnings.length ? ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})` : ''}`);
          else ctx.out.info(`${errors.length} error${errors.length === 1 ? '' : 's'}, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}`);
        }
        return errors.length === 0 ? 0 : 1;
      }),
    );
  config
    .command('schema')
    .description('print the JSON Schema of the config (for editors: yaml-language-server)')
    .action(
      action(runEnv, async (ctx) => {
        ctx.out.out(schemaText().trimEnd());
      }),
    );

  program
    .command('render')
    .description('write the Compose file, nginx, Prometheus, Grafana, Loki and Kubernetes config from the config')
    .option('--out <dir>', 'output directory (default: compose/ beside the config)')
    .option('--check', 'write nothing; exit 1 listing files that differ (drift detection)', false)
    .action(
      action(runEnv, async (ctx, opts: { out?: string; check: boolean }) => {
        const loaded = await loadConfig(ctx.global.config, ctx.global.envFile);
        for (const w of loaded.warnings) ctx.out.warn(formatProblem(w, false));
        const outDir = opts.out ? path.resolve(ctx.cwd, opts.out) : path.join(loaded.dir, 'compose');
        const files = renderForDir(loaded, outDir);
        const report = opts.check ? await checkRendered(files, outDir) : await writeRendered(files, outDir);
        const rel = path.relative(ctx.cwd, outDir) || '.';
        if (ctx.out.json) {
          ctx.out.data({ ok: !(opts.check && report.changed), check: opts.check, outDir: report.outDir, files: report.files });
        } else if (opts.check) {
          const bad = report.files.filter((f) => f.status !== 'unchanged');
          if (bad.length === 0) ctx.out.out(`${rel}: ${report.files.length} files up to date`);
          else {
            for (const f of bad) ctx.out.out(`${f.status.padEnd(8)} ${path.join(rel, f.path)}`);
            ctx.out.info(`${bad.length} file${bad.length === 1 ? '' : 's'} differ from the config: run \`modelship render\``);
          }
        } else {
          for (const f of report.files) if (f.status !== 'unchanged') ctx.out.out(`${f.status.padEnd(9)} ${path.join(rel, f.path)}`);
          const n = report.files.filter((f) => f.status === 'unchanged').length;
          ctx.out.info(report.changed ? `rendered into ${rel}/ (${n} unchanged)` : `${rel}/: nothing changed (${n} files)`);
        }
        return opts.check && report.changed ? 1 : 0;
      }),
    );
}
