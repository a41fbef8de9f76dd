import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The package root (holds templates/, models/, migrations/), from src/ or dist/ alike. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function templatePath(name: string): string {
  return path.join(PACKAGE_ROOT, 'templates', name);
}
