import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as tfTypes from '@tensorflow/tfjs-core';
import type { BackendInfo } from './types.ts';
import { installWasmConcat } from './wasm-concat.ts';

/**
 * Backend choice for both runtimes. TF.js order: tfjs-node-gpu, tfjs-node (both optional native
 * packages that may be missing), wasm with SIMD, plain cpu. ONNX Runtime order: the CUDA
 * execution provider (where its binaries are installed), then the CPU one built into
 * onnxruntime-node. Every failure is caught and recorded, and the backend reported is the one
 * actually active afterwards, not the one asked for.
 * `MODELSHIP_BACKEND=tfjs-node-gpu|tfjs-node|wasm|cpu|onnx-cuda|onnx-cpu` forces one (and fails if
 * it cannot load): a TF.js backend runs ONNX models through the TF.js files their manifest names
 * (`tfjs`), an ONNX one refuses TF.js-only models.
 */

export const BACKEND_ORDER = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_ORDER)[number];

export const ONNX_PROVIDER_ORDER = ['onnx-cuda', 'onnx-cpu'] as const;
export type OnnxProviderChoice = (typeof ONNX_PROVIDER_ORDER)[number];

/** What `MODELSHIP_BACKEND` / `--backend` forces: one TF.js backend or one ONNX Runtime provider (never both). */
export type ForcedBackend = { runtime: 'tfjs'; tfjs: BackendChoice } | { runtime: 'onnx'; onnx: OnnxProviderChoice };

const ALIASES: Record<string, BackendChoice> = {
  'tfjs-node-gpu': 'tfjs-node-gpu',
  gpu: 'tfjs-node-gpu',
  'tfjs-node': 'tfjs-node',
  tensorflow: 'tfjs-node',
  native: 'tfjs-node',
  wasm: 'wasm',
  'wasm-simd': 'wasm',
  cpu: 'cpu',
};

const ONNX_ALIASES: Record<string, OnnxProviderChoice> = {
  'onnx-cuda': 'onnx-cuda',
  'ort-cuda': 'onnx-cuda',
  cuda: 'onnx-cuda',
  'onnx-cpu': 'onnx-cpu',
  'ort-cpu': 'onnx-cpu',
};

const ALL_NAMES = [...BACKEND_ORDER, ...ONNX_PROVIDER_ORDER].join(', ');

/** The TF.js part of a backend name (undefined for auto or an ONNX provider). */
export function parseBackendChoice(value: string | undefined): BackendChoice | undefined {
  const f = parseBackend(value);
  return f?.runtime === 'tfjs' ? f.tfjs : undefined;
}

/** Parses `MODELSHIP_BACKEND` / `--backend`: undefined for automatic (unset, empty or `auto`). */
export function parseBackend(value: string | undefined): ForcedBackend | undefined {
  if (value === undefined || value.trim() === '' || value.trim().toLowerCase() === 'auto') return undefined;
  const v = value.trim().toLowerCase();
  const tfjs = ALIASES[v];
  if (tfjs) return { runtime: 'tfjs', tfjs };
  const onnx = ONNX_ALIASES[v];
  if (onnx) return { runtime: 'onnx', onnx };
  throw new Error(`MODELSHIP_BACKEND=${value} is not one of ${ALL_NAMES}, auto`);
}

/**
 * Whether a native TF.js package is installed *with* its native binding, without loading it.
 * npm can leave the JS package in place when its install script (the libtensorflow download)
 * did not run, so the binding file is what counts.
 */
export function nativeBackendInstalled(): boolean {
  const require = createRequire(import.meta.url);
  for (const p of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    let dir: string;
    try {
      dir = path.dirname(require.resolve(`${p}/package.json`));
    } catch {
      continue; // not installed
    }
    try {
      const lib = path.join(dir, 'lib');
      if (readdirSync(lib).some((d) => d.startsWith('napi-v') && existsSync(path.join(lib, d, 'tfjs_binding.node')))) return true;
    } catch {
      // no lib/: the install script did not run
    }
  }
  return false;
}

type TF = typeof tfTypes;

/**
 * Runs `fn` and removes any process-level `uncaughtException` / `unhandledRejection` listener it
 * added: the emscripten runtime behind the wasm backend installs listeners that rethrow, which
 * would take crash handling away from the host process.
 */
export async function withoutNewProcessListeners<T>(fn: () => Promise<T>): Promise<T> {
  const beforeExc = new Set(process.listeners('uncaughtException'));
  const beforeRej = new Set(process.listeners('unhandledRejection'));
  try {
    return await fn();
  } finally {
    for (const l of process.listeners('uncaughtException')) if (!beforeExc.has(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!beforeRej.has(l)) process.removeListener('unhandledRejection', l);
  }
}

/** Directory holding the wasm binaries inside node_modules (loaded from disk, never the network). */
export function wasmDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
}

async function tryNative(tf: TF, pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<BackendInfo | string> {
  try {
    // The native packages register the `tensorflow` backend into the tfjs-core they import. Only
    // when that is our tfjs-core (same version, deduped) will setBackend find it.
    await import(pkg);
  } catch (err) {
    return `not installed or failed to load: ${(err as Error).message.split('\n')[0]}`;
  }
  if (!tf.findBackendFactory('tensorflow')) return 'loaded but registered into another copy of @tensorflow/tfjs-core (version mismatch)';
  const ok = await tf.setBackend('tensorflow');
  if (!ok) return 'the tensorflow backend failed to initialise';
  await tf.ready();
  const be = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
  const gpu = pkg === '@tensorflow/tfjs-node-gpu' && be.isUsingGpuDevice === true;
  if (pkg === '@tensorflow/tfjs-node-gpu') {
    return gpu
      ? { name: 'tfjs-node-gpu', tfBackend: 'tensorflow', device: 'gpu', skipped: [] }
      : { name: 'tfjs-node-gpu(cpu)', tfBackend: 'tensorflow', device: 'cpu', skipped: [], note: 'tfjs-node-gpu found no usable GPU (needs CUDA 11.2 + cuDNN 8.1): running on CPU' };
  }
  return { name: 'tfjs-node', tfBackend: 'tensorflow', device: 'cpu', skipped: [] };
}

async function tryWasm(tf: TF): Promise<BackendInfo | string> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(`${wasmDir()}${path.sep}`);
    const ok = await withoutNewProcessListeners(async () => {
      const set = await tf.setBackend('wasm');
      if (set) await tf.ready();
      return set;
    });
    if (!ok) return 'the wasm backend failed to initialise';
    installWasmConcat(tf); // the stock kernel allocates per row; see wasm-concat.ts
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    return { name: simd ? 'wasm-simd' : 'wasm', tfBackend: 'wasm', device: 'cpu', skipped: [] };
  } catch (err) {
    return `failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

async function tryCpu(tf: TF): Promise<BackendInfo | string> {
  await import('@tensorflow/tfjs-backend-cpu');
  const ok = await tf.setBackend('cpu');
  if (!ok) return 'the cpu backend failed to initialise';
  await tf.ready();
  return { name: 'cpu', tfBackend: 'cpu', device: 'cpu', skipped: [] };
}

/** Initialises the first backend that works (or the forced one) and returns what really runs. */
export async function initBackend(tf: TF, forced?: BackendChoice): Promise<BackendInfo> {
  const order = forced ? [forced] : BACKEND_ORDER;
  const skipped: BackendInfo['skipped'] = [];
  for (const choice of order) {
    let r: BackendInfo | string;
    if (choice === 'tfjs-node-gpu') r = await tryNative(tf, '@tensorflow/tfjs-node-gpu');
    else if (choice === 'tfjs-node') r = await tryNative(tf, '@tensorflow/tfjs-node');
    else if (choice === 'wasm') r = await tryWasm(tf);
    else r = await tryCpu(tf);
    if (typeof r !== 'string') {
      if (tf.getBackend() !== r.tfBackend) {
        skipped.push({ name: choice, reason: `asked for ${r.tfBackend} but ${tf.getBackend()} is active` });
        continue;
      }
      return { ...r, skipped };
    }
    skipped.push({ name: choice, reason: r });
  }
  throw new Error(`no TF.js backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}
