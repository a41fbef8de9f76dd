/**
 * Closing the engine while ONNX Runtime is still loading a model or running an inference must not
 * take the process down. Before the fix the pool terminated its worker threads mid-session and
 * the process died with "terminate called after throwing an instance of 'Napi::Error'" (SIGABRT):
 * exactly what a `serve` SIGTERMed during its detector warm-up, or a Ctrl-C'd `classify`, did.
 * Each case runs in a child process, because an abort cannot be caught in-process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const engineUrl = new URL('../../../src/inference/engine.ts', import.meta.url).href;
const photo = new URL('../../fixtures/images/motorcycle.jpg', import.meta.url);

/** Starts detections on the bundled ONNX CenterNet, closes the engine after `delayMs`, reports what settled. */
function script(delayMs: number, requests: number): string {
  return `
import { readFile } from 'node:fs/promises';
const { createEngine } = await import(${JSON.stringify(engineUrl)});
const bytes = await readFile(new URL(${JSON.stringify(photo.href)}));
const engine = await createEngine({ workers: 2, lazy: true });
const runs = Array.from({ length: ${requests} }, () => engine.detect(new Uint8Array(bytes), { model: 'objects' }).then(() => 'ok', (e) => 'rejected: ' + e.message));
await new Promise((r) => setTimeout(r, ${delayMs}));
await engine.close();
const settled = await Promise.all(runs);
process.stdout.write(JSON.stringify({ settled }) + '\\n');
`;
}

/** Runs the script as a file (the worker threads inherit the process's execArgv: no `-e`). */
async function runChild(code: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-close-'));
  const file = path.join(dir, 'close.mjs');
  await writeFile(file, code);
  try {
    return await spawnChild(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function spawnChild(file: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MODELSHIP_BACKEND: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

// 0 ms: close while the session is being created; later: while (batched) inferences run.
for (const delayMs of [0, 150, 600, 1500]) {
  test(`engine.close() ${delayMs} ms into an ONNX Runtime load/inference exits cleanly`, { timeout: 120_000 }, async () => {
    const r = await runChild(script(delayMs, 6));
    assert.doesNotMatch(r.stderr, /terminate called|Napi::Error/, r.stderr);
    assert.equal(r.signal, null, `child died of ${r.signal}: ${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    const { settled } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { settled: string[] };
    assert.equal(settled.length, 6);
    // every request settles: run to the end (it was in a worker) or rejected as closed (still queued)
    for (const s of settled) assert.match(s, /^(ok|rejected: the inference pool (is|was) closed)$/);
  });
}
