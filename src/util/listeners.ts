/** A set of callbacks: `add` returns the unsubscribe, `emit` calls each with the same arguments. */
export class Listeners<A extends unknown[]> {
  readonly #fns = new Set<(...args: A) => void>();

  add(fn: (...args: A) => void): () => void {
    this.#fns.add(fn);
    return () => {
      this.#fns.delete(fn);
    };
  }

  emit(...args: A): void {
    for (const fn of this.#fns) fn(...args);
  }
}
