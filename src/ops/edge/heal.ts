/**
 * Deploy's edge step: a request through nginx must reach the active colour. When it does not
 * (nginx routes to another colour, or the active colour's containers are not on the network nginx
 * routes on), the drift is healed: gated containers rejoin the front network, upstream.conf is
 * rewritten for the active colour and nginx reloads gracefully; then the edge is asked again.
 */
import { SERVICE, type Color } from '../../stack/names.ts';
import { actualStack, containersOf, joinGatedNetworks, waitReady } from '../../docker/engine.ts';
import { UserError } from '../../util/errors.ts';
import type { StackHandle, StackView } from '../stack.ts';
import { switchUpstream } from '../upstream.ts';
import { judgeEdge, type EdgeVerdict } from './check.ts';
import { probeEdge } from './probe.ts';

/** Verdicts deploy can fix by routing (an API that answers 503 itself is not an edge problem). */
function routingProblem(v: EdgeVerdict, status: number | null): boolean {
  return !v.ok && (v.wrongColor || status === null || status === 502 || status === 504);
}

/**
 * `dryRun`: only says whether the edge needs healing (a one-line reason) or null.
 * Otherwise heals and returns what it did (null when the edge already served the active colour);
 * throws when the edge still does not serve after healing.
 */
export async function healEdge(h: StackHandle, view: StackView, opts: { dryRun: boolean }): Promise<string | null> {
  const active = view.activeColor as Color;
  const running = (service: string) => containersOf(view.actual.containers, service, true);
  // Read the live containers again in apply mode: the steps before may have changed them.
  const live = opts.dryRun ? view.actual.containers : (await actualStack(h.docker, h.project)).containers;
  const has = (service: string): boolean => containersOf(live, service, true).length > 0;
  if (!has(SERVICE.nginx) || !has(SERVICE.api(active))) return null;
  const before = await probeEdge(h.docker, h.project, view.config);
  const verdict = judgeEdge(before, active);
  if (!routingProblem(verdict, before.status)) return null;
  if (opts.dryRun) return verdict.summary;

  const api = view.desired.containers.find((c) => c.service === SERVICE.api(active));
  if (api) {
    for (const c of running(SERVICE.api(active))) {
      // Never route to a container that has not passed its gate.
      await waitReady(h.docker, c.id, { timeoutMs: 60_000, test: api.spec.healthcheck?.test });
      await joinGatedNetworks(h.docker, api, c.id);
    }
  }
  await switchUpstream(h.docker, { project: h.project, renderDir: h.renderDir, config: view.config, color: active });
  let after = verdict;
  for (let i = 0; i < 10; i++) {
    const f = await probeEdge(h.docker, h.project, view.config);
    after = judgeEdge(f, active);
    if (!routingProblem(after, f.status)) return `edge healed: ${verdict.summary}; now ${after.summary}`;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new UserError(`nginx still does not serve the active colour ${active}: ${after.summary}`, {
    hint: `see \`modelship logs nginx\` and \`modelship logs ${SERVICE.api(active)}\`, then run \`modelship deploy\` again`,
  });
}
