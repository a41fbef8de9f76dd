/**
 * The shape of src/: no import cycle, and no import that goes up the layers DESIGN.md's layout
 * describes. Top-level folders, lowest first (a folder may import its own layer and any below):
 *
 *   0  util, version.ts                       helpers with no project knowledge
 *   1  config, stack, render                  the pure core
 *   2  docker, postgres, db, swarm            adapters (Docker Engine, PostgreSQL, the migration runner)
 *   3  ops                                    operations
 *   4  cli, tui                               the command line and its terminal UI
 *
 * inference, server, queue and services are a column of their own beside ops: they may import
 * layers 0–2 and each other, and only cli/tui import them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { importsOf, rel, sourceFiles, SRC } from './source-files.ts';

const LAYER: Record<string, number> = { util: 0, version: 0, config: 1, stack: 1, render: 1, docker: 2, postgres: 2, db: 2, swarm: 2, ops: 3, cli: 4, tui: 4 };
const COLUMN = new Set(['inference', 'server', 'queue', 'services']);

/**
 * Today's known offenders, being removed by the helpers working in those folders (issue 15); the
 * coordinator shrinks these lists after merging. Each entry is one edge or one cycle.
 */
const ALLOWED_UPWARD = new Set<string>([]);
const ALLOWED_CYCLES = new Set<string>([
  'ops/deploy.ts ↔ ops/swap.ts', // spine-ops moves runMigrations and the failure report into their own module
]);

const area = (f: string): string => rel(f).split('/')[0]!.replace(/\.ts$/, '');

function upward(from: string, to: string): boolean {
  const a = area(from);
  const b = area(to);
  if (a === b) return false;
  if (COLUMN.has(a)) return COLUMN.has(b) ? false : (LAYER[b] ?? 99) > 2;
  if (COLUMN.has(b)) return (LAYER[a] ?? -1) < 4;
  return (LAYER[b] ?? 99) > (LAYER[a] ?? -1);
}

test('every top-level folder of src/ has a place in the layers', () => {
  const unknown = [...new Set(sourceFiles().map(area))].filter((a) => LAYER[a] === undefined && !COLUMN.has(a));
  assert.deepEqual(unknown, [], 'add the new folder to LAYER or COLUMN in this test (and to the README layout table)');
});

test('no import goes up the layers', () => {
  const bad: string[] = [];
  for (const f of sourceFiles()) for (const t of importsOf(f)) if (upward(f, t)) bad.push(`${rel(f)} → ${rel(t)}`);
  assert.deepEqual(bad.filter((e) => !ALLOWED_UPWARD.has(e)), [], 'a lower layer imports a higher one: move the shared piece down');
});

/** Strongly connected components of more than one file (Tarjan), each as `a ↔ b ↔ …` sorted. */
function cycles(graph: Map<string, string[]>): string[] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1) out.push(scc.map(rel).sort().join(' ↔ '));
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out.sort();
}

test('no import cycle (static or dynamic imports)', () => {
  const files = sourceFiles();
  const known = new Set(files);
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => known.has(t))]));
  assert.deepEqual(cycles(graph).filter((c) => !ALLOWED_CYCLES.has(c)), []);
});

test('the checks catch what they are for', () => {
  const at = (p: string) => path.join(SRC, p);
  assert.equal(upward(at('config/schema.ts'), at('ops/deploy.ts')), true);
  assert.equal(upward(at('render/nginx.ts'), at('server/proxy-trust.ts')), true);
  assert.equal(upward(at('ops/deploy.ts'), at('inference/engine.ts')), true);
  assert.equal(upward(at('server/app.ts'), at('postgres/session.ts')), false);
  assert.equal(upward(at('cli/main.ts'), at('server/run.ts')), false);
  assert.equal(upward(at('ops/deploy.ts'), at('docker/engine.ts')), false);
  const [a, b, c] = [at('a.ts'), at('b.ts'), at('c.ts')];
  assert.deepEqual(cycles(new Map([[a, [b]], [b, [c]], [c, [a]]])), ['a.ts ↔ b.ts ↔ c.ts']);
  assert.deepEqual(cycles(new Map([[a, [b]], [b, [c]], [c, []]])), []);
});
