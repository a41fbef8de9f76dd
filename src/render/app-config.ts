/**
 * The resolved config (every default filled in) that modelship's own containers read at
 * /etc/modelship/modelship.config.yaml. It names secrets by their `.env` keys only. Pure.
 */
import { stringify } from 'yaml';
import type { Config } from '../config/schema.ts';
import type { RenderedFile } from './types.ts';

export function renderAppConfig(config: Config): RenderedFile[] {
  const header = '# Rendered by modelship: the resolved config (defaults filled in) that the api, worker and\n# db-backup containers read. Edit modelship.config.yaml instead. Secrets: key names only.\n';
  return [{ path: 'app/modelship.config.yaml', content: header + stringify(config, { lineWidth: 0 }) }];
}
