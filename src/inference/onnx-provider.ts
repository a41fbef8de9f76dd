import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import type { OnnxProviderChoice } from './backend.ts';
import type { BackendInfo } from './types.ts';

/**
 * ONNX Runtime sessions with execution-provider fallback. CUDA is tried only where its provider
 * binaries are installed (onnxruntime-node ships the CPU provider only; the CUDA one is a separate
 * download, see the README), then CPU. The provider reported is the one the session was really
 * created with. Sessions are created once per model per thread and reused: repeatedly creating
 * and releasing sessions leaks native memory (onnxruntime issue 25325).
 */

export type OrtModule = typeof Ort;

let ortLoad: { mod: OrtModule } | { error: string } | undefined;

/** Loads onnxruntime-node once; throws a readable error when its native binding cannot load. */
export function loadOrt(): OrtModule {
  if (!ortLoad) {
    try {
      const require = createRequire(import.meta.url);
      ortLoad = { mod: require('onnxruntime-node') as OrtModule };
      // native errors of a provider we try and skip would otherwise be printed on stderr
      ortLoad.mod.env.logLevel = 'fatal';
    } catch (err) {
      ortLoad = { error: (err as Error).message.split('\n')[0] ?? 'unknown error' };
    }
  }
  if ('error' in ortLoad) throw new Error(`onnxruntime-node cannot be loaded: ${ortLoad.error}`);
  return ortLoad.mod;
}

/** The directory holding onnxruntime-node's native files for this platform, if it exists. */
export function ortBinaryDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const dir = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the CUDA execution provider's library is installed beside onnxruntime-node's binding. */
export function cudaProviderInstalled(dir = ortBinaryDir()): boolean {
  return dir !== undefined && existsSync(path.join(dir, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so'));
}

export const CUDA_INSTALL_HINT = 'install the CUDA provider with `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install` (needs CUDA 12 and cuDNN 9)';

export interface SessionOptions {
  /** ORT intra-op threads for this session. 1 = a single-threaded session (the pool gives parallelism). */
  intraOpThreads: number;
}

/**
 * Session options used for every session: sequential execution, no inter-op pool, no spinning
 * (spinning threads burn the cores the other workers need), full graph optimisation.
 */
export function ortSessionOptions(provider: 'cuda' | 'cpu', o: SessionOptions): Ort.InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda' }] : [{ name: 'cpu' }],
    intraOpNumThreads: o.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/** The providers to try, in order, for a forced choice or automatic. */
export function providerOrder(forced: OnnxProviderChoice | undefined): OnnxProviderChoice[] {
  return forced ? [forced] : ['onnx-cuda', 'onnx-cpu'];
}

/**
 * Creates a session for `file` with the first provider that works. Returns the session and the
 * provider info (`skipped` says why earlier ones were not used). Throws when none works.
 */
export async function createSession(
  file: string,
  o: SessionOptions & { forced?: OnnxProviderChoice | undefined; cudaInstalled?: boolean | undefined },
): Promise<{ session: Ort.InferenceSession; provider: BackendInfo }> {
  const ort = loadOrt();
  const skipped: BackendInfo['skipped'] = [];
  let lastError: Error | undefined;
  for (const choice of providerOrder(o.forced)) {
    const ep = choice === 'onnx-cuda' ? 'cuda' : 'cpu';
    if (ep === 'cuda' && !(o.cudaInstalled ?? cudaProviderInstalled())) {
      skipped.push({ name: choice, reason: `the CUDA execution provider is not installed (${CUDA_INSTALL_HINT})` });
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(file, ortSessionOptions(ep, o));
      return {
        session,
        provider: { name: choice, tfBackend: 'none', device: ep === 'cuda' ? 'gpu' : 'cpu', skipped, runtime: 'onnx', threads: o.intraOpThreads },
      };
    } catch (err) {
      lastError = err as Error;
      const msg = (err as Error).message.split('\n')[0] ?? 'unknown error';
      // a model ORT cannot parse fails the same way on every provider: stop at the first
      if (/protobuf|INVALID_PROTOBUF|INVALID_GRAPH|NO_SUCHFILE|Load model .* failed|No such file/i.test(msg)) throw err;
      skipped.push({ name: choice, reason: msg });
    }
  }
  throw new Error(`no ONNX Runtime execution provider could run the model: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`, { cause: lastError });
}
