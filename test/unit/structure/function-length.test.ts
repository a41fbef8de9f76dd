/**
 * No function in src/ longer than about 80 lines unless a comment on it says why (a comment
 * starting `Long because` right above the function, or above the statement that holds it). Read
 * with the TypeScript compiler API: every function, method, arrow function and accessor with a body.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ts from 'typescript';
import { parse, rel, sourceFiles } from './source-files.ts';

const MAX_LINES = 80;
const REASON = /^\s*(\/\/|\/\*\*?|\*)\s*Long because\b/m;

/** Functions allowed to stay long without a comment: none (a new one says why, or is split). */
const ALLOWED = new Set<string>([]);

function nameOf(fn: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  if (fn.name) return fn.name.getText(sf);
  const p = fn.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return p.name.getText(sf);
  return `<anonymous at line ${sf.getLineAndCharacterOfPosition(fn.getStart(sf)).line + 1}>`;
}

/** The comments right above the function or above the statement/member/argument it is part of. */
function hasReason(fn: ts.Node, sf: ts.SourceFile): boolean {
  for (let n: ts.Node | undefined = fn; n && !ts.isSourceFile(n); n = n.parent) {
    const ranges = ts.getLeadingCommentRanges(sf.text, n.getFullStart()) ?? [];
    if (ranges.some((r) => REASON.test(sf.text.slice(r.pos, r.end)))) return true;
    if (ts.isStatement(n) || ts.isClassElement(n)) return false;
  }
  return false;
}

export function longFunctions(file: string): { key: string; lines: number }[] {
  const sf = parse(file);
  const out: { key: string; lines: number }[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const fn = n as ts.FunctionLikeDeclaration;
      const lines = sf.getLineAndCharacterOfPosition(fn.end).line - sf.getLineAndCharacterOfPosition(fn.getStart(sf)).line + 1;
      if (lines > MAX_LINES && !hasReason(fn, sf)) out.push({ key: `${rel(file)} ${nameOf(fn, sf)}`, lines });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

test(`no function longer than ${MAX_LINES} lines without a "Long because" comment`, () => {
  const found = sourceFiles().flatMap(longFunctions);
  const bad = found.filter((f) => !ALLOWED.has(f.key)).map((f) => `${f.key} (${f.lines} lines)`);
  assert.deepEqual(bad, [], 'split it into named steps, or say above it why it is long ("// Long because …")');
});

test('the allowlist names only functions that are still long (shrink it when one is split)', () => {
  const found = new Set(sourceFiles().flatMap(longFunctions).map((f) => f.key));
  assert.deepEqual([...ALLOWED].filter((k) => !found.has(k)), []);
});
