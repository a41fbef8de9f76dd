/**
 * How an ONNX model's sessions use the cores: the thread policy, per model.
 *
 * - `pool`: one single-threaded session in every inference worker. Inputs run side by side, one
 *   per core; the model's weights and activation buffers exist once per worker.
 * - `intra-op`: one session, in one worker, with one ONNX Runtime intra-op thread per core. One
 *   input at a time uses every core; the model exists once in the process.
 * - a number N: sessions of N intra-op threads each, as many as fit the cores (at least one).
 *
 * The choice is the first of: the config (`models.threads`, by model name or `*`),
 * MODELSHIP_ONNX_THREADS (every model), the manifest's `threads` (the bundled models record what
 * `npm run bench:classify` measured faster), and the default rule: `intra-op`, the layout that
 * holds each model once (the lower memory) and, as measured here, the faster one for convolution
 * networks of bundled size.
 */

export type ThreadChoice = 'pool' | 'intra-op' | number;

export type ThreadSource = 'config' | 'env' | 'manifest' | 'default';

export interface ThreadPlan {
  /** `pool`, `intra-op`, or `N threads` for an explicit count that is neither. */
  layout: 'pool' | 'intra-op' | 'custom';
  /** Workers holding a session of this model. */
  sessions: number;
  /** ONNX Runtime intra-op threads of each session. */
  threadsPerSession: number;
  /** Where the choice came from. */
  from: ThreadSource;
}

export const DEFAULT_THREADS: ThreadChoice = 'intra-op';

/**
 * The sessions and threads for a choice on `cores` cores with `workers` inference workers.
 * Sessions never outnumber the workers (a worker holds at most one session of a model).
 */
export function planThreads(choice: ThreadChoice, cores: number, workers: number, from: ThreadSource): ThreadPlan {
  const c = Math.max(1, cores), w = Math.max(1, workers);
  if (choice === 'pool') return { layout: 'pool', sessions: w, threadsPerSession: 1, from };
  if (choice === 'intra-op') return { layout: 'intra-op', sessions: 1, threadsPerSession: c, from };
  const t = Math.max(1, Math.floor(choice));
  const sessions = Math.min(w, Math.max(1, Math.floor(c / t)));
  const layout = t === 1 ? 'pool' : sessions === 1 && t === c ? 'intra-op' : 'custom';
  return { layout, sessions: t === 1 ? w : sessions, threadsPerSession: t, from };
}

export interface ThreadInputs {
  /** The config's `models.threads`: by model name, `*` for every model. */
  config?: Readonly<Record<string, ThreadChoice>> | undefined;
  /** MODELSHIP_ONNX_THREADS, parsed. */
  env?: number | undefined;
  /** The manifest's `threads`. */
  manifest?: ThreadChoice | undefined;
}

/** The choice that applies to `model`, and where it came from. */
export function chooseThreads(model: string, i: ThreadInputs): { choice: ThreadChoice; from: ThreadSource } {
  const fromConfig = i.config?.[model] ?? i.config?.['*'];
  if (fromConfig !== undefined) return { choice: fromConfig, from: 'config' };
  if (i.env !== undefined) return { choice: i.env, from: 'env' };
  if (i.manifest !== undefined) return { choice: i.manifest, from: 'manifest' };
  return { choice: DEFAULT_THREADS, from: 'default' };
}

/** "intra-op: 1 session × 2 threads (manifest)", for humans. */
export function describePlan(p: ThreadPlan): string {
  const what = p.layout === 'custom' ? `${p.threadsPerSession} threads per session` : p.layout;
  return `${what}: ${p.sessions} session${p.sessions === 1 ? '' : 's'} × ${p.threadsPerSession} thread${p.threadsPerSession === 1 ? '' : 's'} (${p.from})`;
}
