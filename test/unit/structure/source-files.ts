/** The TypeScript files of src/ and what each imports (static, re-exports, dynamic), read with the compiler API. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');

export function sourceFiles(dir = SRC): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

/** `src/`-relative path with forward slashes, as messages and allowlists name files. */
export function rel(file: string): string {
  return path.relative(SRC, file).split(path.sep).join('/');
}

/** The src files `file` imports (relative specifiers only; packages and node: builtins are not edges). */
export function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('.')).map((s) => path.resolve(path.dirname(file), s));
}

export function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}
