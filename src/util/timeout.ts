/**
 * A promise with a deadline: `p`, or after `ms` what `onTimeout` gives. A string rejects with
 * that message; a function may throw (a rejection of its own choosing) or return a fallback value
 * (which resolves). The timer is cleared when `p` settles and never keeps the process alive on its
 * own. `p` itself is not cancelled: pass it an AbortSignal where it takes one.
 */
export function withTimeout<T, U = never>(p: Promise<T>, ms: number, onTimeout: string | (() => U)): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<U>((resolve, reject) => {
    timer = setTimeout(() => {
      if (typeof onTimeout === 'string') reject(new Error(onTimeout));
      else {
        try {
          resolve(onTimeout());
        } catch (err) {
          reject(err as Error);
        }
      }
    }, ms);
    timer.unref();
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
