/**
 * SIGINT/SIGTERM as an AbortSignal while `fn` runs (so pg_dump stops, temp files go, a watch loop
 * ends). By default each handler goes after the first signal, so a second Ctrl-C kills the process
 * the usual way; `persistent` keeps them (a long-running scheduler that logs every signal and must
 * not die halfway through a backup).
 */
export async function withSignals<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  opts: { signals?: readonly NodeJS.Signals[]; onSignal?: (sig: NodeJS.Signals) => void; persistent?: boolean } = {},
): Promise<T> {
  const ac = new AbortController();
  const signals = opts.signals ?? ['SIGINT', 'SIGTERM'];
  const handlers = signals.map((sig) => {
    const h = (): void => {
      opts.onSignal?.(sig);
      ac.abort();
    };
    if (opts.persistent) process.on(sig, h);
    else process.once(sig, h);
    return [sig, h] as const;
  });
  try {
    return await fn(ac.signal);
  } finally {
    for (const [sig, h] of handlers) process.removeListener(sig, h);
  }
}
