/** The PostgreSQL init script: extensions created on the first start of an empty data volume. Pure. */
import type { Config } from '../config/schema.ts';
import type { RenderedFile } from './types.ts';

export function renderPostgresInit(config: Config): RenderedFile[] {
  const lines = [
    '-- Rendered by modelship: runs once, when the PostgreSQL data volume is first initialised.',
    ...config.postgres.extensions.map((e) => `CREATE EXTENSION IF NOT EXISTS "${e}";`),
    '',
  ];
  return [{ path: 'postgres/init/10-extensions.sql', content: lines.join('\n') }];
}
