/**
 * A model by name: a bundled or added one from the registry, or an `hf:` reference resolved through
 * the Hub code (loaded only then). Beside registry.ts, not in it, so the registry and the Hub
 * resolver (which reads the registry) do not import each other.
 */
import { closest } from '../config/did-you-mean.ts';
import { isHubSpec } from '../config/hub-ref.ts';
import { UserError } from '../util/errors.ts';
import { ModelNotFoundError } from './errors.ts';
import { listModels, type ModelEntry, type RegistryOptions } from './registry.ts';

export async function getModel(name: string, opts: RegistryOptions = {}): Promise<ModelEntry> {
  if (isHubSpec(name)) return (await import('./hf-registry.ts')).resolveHubModel(name, opts);
  const all = await listModels(opts);
  const found = all.find((m) => m.name === name);
  if (!found) {
    const guess = closest(name, all.map((m) => m.name));
    throw new ModelNotFoundError(name, `unknown model "${name}"`, { hint: guess ? `did you mean "${guess}"? (modelship models list)` : 'see `modelship models list`' });
  }
  if ('error' in found) throw new UserError(`model "${name}" is broken: ${found.error}`, { hint: found.hint ?? `fix ${found.dir}/manifest.json` });
  return found;
}
