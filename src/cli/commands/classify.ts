import { createWriteStream } from 'node:fs';
import { writeFileAtomic } from '../../util/fs-atomic.ts';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../../util/errors.ts';
import { action, type RunEnvironment } from '../context.ts';
import { createEngine, defaultWorkers } from '../../inference/engine.ts';
import { collectInputs, runJob, type JobResult } from '../../inference/job.ts';
import { CSV_HEADER, csvRows, progressBar, summaryLine, tableLines, type OutputFormat } from '../format/classify.ts';
import type { CliTask } from '../../inference/types.ts';

interface ClassifyFlags {
  task: CliTask;
  model?: string;
  format?: OutputFormat;
  out?: string;
  top?: string;
  threshold?: string;
  concurrency?: string;
  text?: string[];
}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got "${v}"`);
  return n;
}

const MAX_INPUT_BYTES = 100 * 1024 * 1024;

// Long because: the commander declaration of `classify` (its many flags and help text) and its one action.
export function register(program: Command, runEnv: RunEnvironment): void {
  program
    .command('classify')
    .description('Classify images or text, or detect objects, on this machine with the bundled models (no server, no config)')
    .argument('[paths...]', 'files or directories (directories are walked)')
    .addOption(new Option('--task <task>', 'what to do').choices(['image', 'text', 'detect']).default('image'))
    .option('--model <name>', 'model to use (default: content-safety, sentiment or objects by task)')
    .addOption(new Option('--format <format>', 'output format (default: table, or json with --json)').choices(['table', 'json', 'ndjson', 'csv']))
    .option('--out <file>', 'write the results to FILE instead of stdout')
    .option('--top <k>', 'keep the K best predictions (detections for --task detect)')
    .option('--threshold <score>', 'drop predictions/detections scoring below this (0..1)')
    .option('--concurrency <n>', 'inference worker threads (default: one per core)')
    .option('--text <text>', 'classify this text (repeatable; implies --task text)', (v: string, prev: string[] = []) => [...prev, v])
    .action(
      action(runEnv, async ({ global, out, cwd, env }, paths: string[], flags: ClassifyFlags) => {
        const texts = flags.text ?? [];
        const task: CliTask = texts.length > 0 ? 'text' : flags.task;
        if (texts.length > 0 && flags.task !== 'image' && flags.task !== 'text') throw new UsageError('--text needs --task text');
        if (paths.length === 0 && texts.length === 0) throw new UsageError('nothing to classify', 'give one or more files or directories, or --text "…"');
        const format: OutputFormat = flags.format ?? (global.json ? 'json' : 'table');
        const topK = positiveInt('--top', flags.top);
        const concurrency = positiveInt('--concurrency', flags.concurrency);
        let threshold: number | undefined;
        if (flags.threshold !== undefined) {
          threshold = Number(flags.threshold);
          if (!(threshold >= 0 && threshold <= 1)) throw new UsageError(`--threshold must be between 0 and 1, got "${flags.threshold}"`);
        }
        const maxPixels = env.MODELSHIP_MAX_PIXELS ? Number(env.MODELSHIP_MAX_PIXELS) : undefined;

        const inputs = await collectInputs(paths, texts, task, cwd, MAX_INPUT_BYTES);
        if (inputs.length === 0) throw new UsageError(`no ${task === 'text' ? 'text' : 'image'} inputs found in ${paths.join(', ')}`);
        const workers = task === 'text' && !flags.model ? 1 : Math.min(concurrency ?? defaultWorkers(), inputs.length);
        // text: the default model is a lexicon; TF.js starts only if a TF.js text model is asked for
        const engine = await createEngine({ workers, lazy: task === 'text', backend: env.MODELSHIP_BACKEND, limits: maxPixels ? { maxPixels } : undefined, registry: { env } });

        // Output sink: stdout, or a file (json/csv/table written at the end via temp + rename).
        const outFile = flags.out ? path.resolve(cwd, flags.out) : undefined;
        const stream = outFile && format === 'ndjson' ? createWriteStream(outFile) : undefined;
        const write = (s: string) => (stream ? stream.write(s) : outFile ? undefined : runEnv.streams.stdout.write(s));

        const unit = task === 'text' ? 'texts' : 'img';
        const tty = runEnv.streams.stderr.isTTY === true;
        const t0 = performance.now();
        let lastLine = 0;
        const step = Math.max(1, Math.ceil(inputs.length / 10));
        try {
          const summary = await runJob(engine, inputs, {
            task,
            model: flags.model,
            topK,
            threshold,
            inFlight: engine.workers * 2 + 1,
            maxInputBytes: MAX_INPUT_BYTES,
            onResult: (r: JobResult) => {
              if (format === 'ndjson') write(`${JSON.stringify(r)}\n`);
              if ('error' in r && format === 'table') out.warn(`${r.input}: ${r.error}`);
            },
            onProgress: (done, total) => {
              const el = (performance.now() - t0) / 1000;
              if (tty) runEnv.streams.stderr.write(`\r${progressBar(done, total, el, unit)}${done === total ? '\n' : ''}`);
              else if (total > 1 && (done - lastLine >= step || done === total)) {
                lastLine = done;
                out.info(`progress: ${done}/${total} (${(done / Math.max(el, 1e-9)).toFixed(1)} ${unit}/s)`);
              }
            },
          });
          const results = summary.results;
          let text: string | undefined;
          if (format === 'json') text = `${JSON.stringify(results, null, 2)}\n`;
          else if (format === 'table') text = `${tableLines(results).join('\n')}\n`;
          // CSV in input order, like JSON (ndjson is the streaming format, in completion order).
          else if (format === 'csv') text = [CSV_HEADER.join(','), ...results.flatMap(csvRows)].join('\n') + '\n';
          if (text !== undefined) {
            if (outFile) await writeFileAtomic(outFile, text);
            else write(text);
          }
          if (stream) await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
          out.info(summaryLine(summary, unit));
          if (outFile) out.info(`results written to ${outFile}`);
          return summary.failed > 0 ? 1 : 0;
        } finally {
          await engine.close();
        }
      }),
    );
}
