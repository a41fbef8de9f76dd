/**
 * The server's routes by path pattern, to tell "no such path" (404) from "no such method on this
 * path" (405 with `Allow`). Patterns are fastify's (`/v1/jobs/:id`). Pure.
 */

export class RouteIndex {
  readonly #routes: { re: RegExp; method: string }[] = [];

  /** Catch-all patterns (CORS preflight's `*`) say nothing about a path and are left out. */
  add(method: string, pattern: string): void {
    if (pattern.includes('*')) return;
    const re = new RegExp(`^${pattern.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}/?$`);
    this.#routes.push({ re, method: method.toUpperCase() });
  }

  /** Methods that have a route for this concrete path, sorted (empty: the path is unknown). */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const r of this.#routes) if (r.re.test(path)) methods.add(r.method);
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  }
}
