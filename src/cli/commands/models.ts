import type { Command } from 'commander';
import { action, type RunEnvironment } from '../context.ts';
import { createEngine, defaultThreadPlan } from '../../inference/engine.ts';
import { describePlan } from '../../inference/threading.ts';
import { addModel, listModels } from '../../inference/registry.ts';
import { getModel } from '../../inference/model-lookup.ts';
import { verifyModel } from '../../inference/verify.ts';
import { resolveConvertTarget, convertModelDirectory } from '../../inference/convert/convert-model.ts';
import { VERSION } from '../../version.ts';
import type { Task } from '../../inference/manifest.ts';
import { UsageError } from '../../util/errors.ts';
import { formatBytes } from '../../util/size.ts';
import { columns } from '../../util/table.ts';

const TASKS: readonly Task[] = ['image-classification', 'text-classification', 'object-detection'];

function parseTask(t: string | undefined): Task | undefined {
  if (t === undefined) return undefined;
  if (!(TASKS as readonly string[]).includes(t)) throw new UsageError(`--task ${t}: expected one of ${TASKS.join(', ')}`);
  return t as Task;
}

function sizeOf(n: number | undefined): string {
  return n === undefined ? 'size unknown' : formatBytes(n);
}

// Long because: the commander declaration of `models` and its subcommands (list, info, add, verify…), one short action each.
export function register(program: Command, runEnv: RunEnvironment): void {
  const models = program.command('models').description('List, inspect, add and verify inference models');

  models
    .command('list')
    .description('Models known to this machine (bundled and added)')
    .action(
      action(runEnv, async ({ out, env }) => {
        const all = await listModels({ env });
        if (out.json) {
          out.data(all.map((m) => ('error' in m
            ? { name: m.name, source: m.source, dir: m.dir, error: m.error }
            : { name: m.name, task: m.manifest.task, runtime: m.manifest.runtime, version: m.manifest.version, license: m.manifest.license.spdx, labels: m.labels.length, source: m.source, dir: m.dir })));
        } else {
          const rows = [['NAME', 'TASK', 'RUNTIME', 'VERSION', 'LABELS', 'LICENCE', 'SOURCE']];
          for (const m of all) {
            if ('error' in m) rows.push([m.name, 'BROKEN', '', '', '', '', `${m.source}: ${m.error.split('\n')[0]}`]);
            else rows.push([m.name, m.manifest.task, m.manifest.runtime, m.manifest.version, String(m.labels.length), m.manifest.license.spdx, m.source]);
          }
          for (const l of columns(rows)) out.out(l);
        }
        return all.some((m) => 'error' in m) ? 1 : 0;
      }),
    );

  models
    .command('info')
    .description('Manifest, labels, files and the backend that would run the model')
    .argument('<name>', 'model name')
    .action(
      action(runEnv, async ({ out, env }, name: string) => {
        const entry = await getModel(name, { env });
        const m = entry.manifest;
        let backend: { name: string; device: string; skipped: { name: string; reason: string }[]; note?: string | undefined } = { name: 'lexicon', device: 'cpu', skipped: [] };
        if (m.runtime !== 'lexicon') {
          // the model is loaded and run once: the backend reported is the one that really runs it
          const engine = await createEngine({ workers: 1, lazy: true, backend: env.MODELSHIP_BACKEND, registry: { env } });
          try {
            backend = await engine.warm(entry.name);
          } finally {
            await engine.close();
          }
        }
        const threads = defaultThreadPlan(entry, env);
        if (out.json) {
          out.data({ name: entry.name, dir: entry.dir, source: entry.source, backend, ...(threads ? { threads } : {}), manifest: m, labels: entry.labels });
          return 0;
        }
        const lines: [string, string][] = [
          ['name', entry.name],
          ['description', m.description ?? ''],
          ['task', m.task],
          ['version', m.version],
          ['runtime', m.runtime === 'tfjs' ? `tfjs (${m.format})` : m.runtime === 'onnx' ? `onnx (${m.modelFile}${m.tfjs ? `; TF.js ${m.tfjs.format} ${m.tfjs.modelFile} for a forced TF.js backend` : ''})` : 'lexicon (VADER rules + lexicon, not a neural network)'],
          ['backend', `${backend.name} (${backend.device})${backend.note ? ` — ${backend.note}` : ''}`],
        ];
        if (threads) lines.push(['threads', `${describePlan(threads)} on this machine; the config's models.threads overrides it in serve and worker`]);
        if ('input' in m) {
          const i = m.input;
          const fit = i.resize === 'cover' && i.shorterSide ? `shorter side ${i.shorterSide} then centre crop` : i.resize === 'contain' ? `contain (${i.align}, pad ${i.padValue})` : i.resize;
          lines.push(['input', `${i.width}×${i.height}×3 ${i.layout ?? (m.runtime === 'onnx' ? 'layout from the model' : 'NHWC')} ${i.channelOrder}, resize ${fit}, value = (pixel × ${+i.scale.toPrecision(6)} − [${i.mean.join(', ')}]) / [${i.std.join(', ')}]`]);
        }
        if ('tokenizer' in m) {
          const t = m.tokenizer;
          lines.push(['tokenizer', t.type === 'word-index' ? `word-index, max length ${t.maxLength}, OOV ${t.oovIndex ?? 'dropped'}, padding ${t.padding}, truncating ${t.truncating}` : `Hugging Face ${t.file}, at most ${t.maxLength} tokens, long texts cut on the ${t.truncation}`]);
        }
        if ('output' in m) lines.push(['output', m.output.type === 'detections' ? `detections ${m.output.layout}, NMS IoU ${m.output.iouThreshold}, min score ${m.output.minScore}` : m.output.type]);
        lines.push(['labels', `${entry.labels.length}: ${entry.labels.slice(0, 8).join(', ')}${entry.labels.length > 8 ? ', …' : ''}`]);
        lines.push(['licence', `${m.license.spdx}${m.license.file ? ` (${m.license.file})` : ''}`]);
        lines.push(['provenance', m.provenance.source + (m.provenance.path ? ` ${m.provenance.path}` : '')]);
        lines.push(['directory', `${entry.dir} (${entry.source})`]);
        const w = Math.max(...lines.map(([k]) => k.length));
        for (const [k, v] of lines) out.out(`${k.padEnd(w)}  ${v}`);
        for (const s of backend.skipped) out.info(`  skipped backend ${s.name}: ${s.reason}`);
        return 0;
      }),
    );

  models
    .command('add')
    .description('Register a model: a directory with a manifest.json, a Hugging Face layout directory (config.json + ONNX), or hf:ORG/NAME[@REVISION] from the Hub')
    .argument('<source>', 'model directory, or hf:ORG/NAME[@REVISION]')
    .option('--copy', 'copy the files into the modelship data directory instead of referring to DIR', false)
    .option('--force', 'replace a model already registered under the same name', false)
    .option('--variant <variant>', 'Hugging Face layout: which ONNX file (fp32, quantized, int8, uint8, fp16, q4… or a path such as onnx/model_int8.onnx)')
    .option('--name <name>', 'Hugging Face layout: the model name (default: the repository or directory name)')
    .option('--task <task>', 'Hugging Face layout: image-classification, text-classification or object-detection, when config.json does not say')
    .action(
      action(runEnv, async ({ out, env, cwd }, source: string, flags: { copy: boolean; force: boolean; variant?: string; name?: string; task?: string }) => {
        const path = await import('node:path');
        const { isHubSpec } = await import('../../config/hub-ref.ts');
        const hf = await import('../../inference/hf-registry.ts');
        const task = parseTask(flags.task);
        const hubSource = isHubSpec(source);
        const dir = hubSource ? undefined : path.resolve(cwd, source);
        if (!hubSource && !(await hf.looksLikeHfDir(dir!))) {
          if (flags.variant || flags.name || flags.task) throw new UsageError('--variant, --name and --task apply to Hugging Face layout models only', 'a directory with a manifest.json says all of that in the manifest');
          const entry = await addModel(dir!, { env, copy: flags.copy, force: flags.force });
          if (out.json) out.data({ ok: true, name: entry.name, task: entry.manifest.task, dir: entry.dir });
          else out.out(`added ${entry.name} (${entry.manifest.task}, ${entry.labels.length} labels) from ${entry.dir}; check it with: modelship models verify ${entry.name}`);
          return 0;
        }
        const opts = { env, copy: flags.copy, force: flags.force, variant: flags.variant, name: flags.name, task };
        const onEvent = (e: { kind: string; file?: string; size?: number | undefined; bytes?: number; reason?: string; message?: string }) => {
          if (e.kind === 'info') out.info(e.message ?? '');
          else if (e.kind === 'start') out.info(`downloading ${e.file} (${sizeOf(e.size)})`);
          else if (e.kind === 'resume') out.info(`resuming ${e.file} at ${sizeOf(e.bytes)} of ${sizeOf(e.size)}`);
          else if (e.kind === 'retry') out.warn(`${e.file}: ${e.reason}; retrying`);
          else if (e.kind === 'cached') out.info(`${e.file}: already in the Hub cache`);
        };
        const r = hubSource ? await hf.addHubModel(source, { ...opts, onEvent }) : await hf.addHfDir(dir!, opts);
        const m = r.entry.manifest;
        if (out.json) {
          out.data({
            ok: true,
            name: r.entry.name,
            task: m.task,
            dir: r.entry.dir,
            layout: 'huggingface',
            modelFile: r.derivation.variant.file,
            variant: r.derivation.variant.key,
            derived: r.derivation.notes,
            ...(r.snapshot ? { hub: { repo: r.snapshot.ref.repo, revision: r.snapshot.ref.revision, commit: r.snapshot.commit, cache: r.snapshot.cacheRoot, downloaded: r.snapshot.downloads.filter((d) => !d.cached).map((d) => d.file), cached: r.snapshot.downloads.filter((d) => d.cached).map((d) => d.file), bytes: r.snapshot.downloads.reduce((a, d) => a + d.transferred, 0) } } : {}),
            manifest: m,
          });
        } else {
          out.out(`added ${r.entry.name} (${m.task}, ${r.entry.labels.length} labels) from ${r.snapshot ? `${r.snapshot.spec} at ${r.snapshot.commit.slice(0, 12)}` : r.entry.dir}`);
          out.out('derived from the Hugging Face layout:');
          for (const n of r.derivation.notes) out.out(`  - ${n}`);
          if (r.snapshot) out.out(`files in ${r.entry.dir}`);
          out.out(`check it with: modelship models verify ${r.entry.name}`);
        }
        return 0;
      }),
    );

  models
    .command('convert')
    .description('Convert a TF.js model (registered NAME or a DIR) to ONNX: writes model.onnx and switches its manifest to ONNX Runtime, TF.js files kept')
    .argument('<name-or-dir>', 'a registered model name, or a model directory')
    .requiredOption('--to <format>', 'target format (only: onnx)')
    .option('--force', 'convert again a model whose manifest already runs model.onnx', false)
    .option('--no-check', 'do not compare TF.js and ONNX Runtime on a probe input before writing')
    .action(
      action(runEnv, async ({ out, env, cwd }, target: string, flags: { to: string; force: boolean; check: boolean }) => {
        if (flags.to !== 'onnx') throw new UsageError(`--to ${flags.to}: the only target format is onnx`, 'use --to onnx');
        const dir = await resolveConvertTarget(target, { env, cwd });
        const r = await convertModelDirectory(dir, { force: flags.force, producerVersion: VERSION, check: flags.check });
        const check = r.check ? { output: r.check.output, maxAbsDiff: r.check.maxAbsDiff, tolerance: r.check.tolerance, tfjsBackend: r.check.tfjsBackend } : null;
        if (out.json) {
          out.data({ ok: true, name: r.name, dir: r.dir, from: r.format, to: 'onnx', file: r.onnxFile, bytes: r.bytes, sha256: r.sha256, nodes: r.nodes, ops: r.ops, inputs: r.inputs, outputs: r.outputs, check });
          return 0;
        }
        const ops = Object.entries(r.ops).sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op} ${n}`).join(', ');
        out.out(`converted ${r.name} (TF.js ${r.format} → ONNX opset 17): ${r.onnxFile}, ${(r.bytes / 1e6).toFixed(1)} MB, ${r.nodes} nodes (${ops})`);
        if (check) out.out(`checked: TF.js (${check.tfjsBackend}) and ONNX Runtime agree on a probe input, max |Δ| ${check.maxAbsDiff.toExponential(1)} on ${check.output} (allowed ${check.tolerance.toExponential(1)})`);
        else out.out(flags.check ? 'not checked: the manifest describes no input to probe the model with' : 'not checked (--no-check)');
        out.out('manifest.json now runs it on ONNX Runtime; the TF.js files stay and run when a TF.js backend is forced (MODELSHIP_BACKEND=wasm|cpu|tfjs-node|tfjs-node-gpu)');
        out.info(`check it with: modelship models verify ${r.name}`);
        return 0;
      }),
    );

  models
    .command('verify')
    .description('Load a model and run a self-test (files, checksums, one inference)')
    .argument('<name>', 'model name')
    .action(
      action(runEnv, async ({ out, env }, name: string) => {
        const entry = await getModel(name, { env });
        const engine = await createEngine({ workers: 1, backend: env.MODELSHIP_BACKEND, registry: { env } });
        try {
          const report = await verifyModel(engine, entry);
          if (out.json) out.data(report);
          else {
            for (const c of report.checks) out.out(`${c.ok ? out.c.green('ok  ') : out.c.red('FAIL')}  ${c.name}: ${c.detail}`);
            out.out(`${report.ok ? 'verified' : 'verification FAILED'}: ${report.model} ${report.version} on ${report.backend}`);
          }
          return report.ok ? 0 : 1;
        } finally {
          await engine.close();
        }
      }),
    );
}
