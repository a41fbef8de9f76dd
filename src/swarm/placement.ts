/**
 * Whether the cluster can place the pinned services: each needs at least one ready, active node
 * carrying its label (value "true"). Pure: takes the manager's /nodes.
 */
import type { EngineNode } from './nodes.ts';

export interface LabelProblem {
  service: string;
  label: string;
  /** Set when nodes carry the label but none can take tasks now. */
  reason?: string;
}

export function missingLabels(services: ReadonlyArray<{ service: string; needsLabel?: string | undefined }>, nodes: readonly EngineNode[]): LabelProblem[] {
  const out: LabelProblem[] = [];
  for (const s of services) {
    if (!s.needsLabel) continue;
    const labelled = nodes.filter((n) => n.Spec?.Labels?.[s.needsLabel!] === 'true');
    if (labelled.length === 0) {
      out.push({ service: s.service, label: s.needsLabel });
      continue;
    }
    const usable = labelled.filter((n) => n.Status?.State === 'ready' && (n.Spec?.Availability ?? 'active') === 'active');
    if (usable.length === 0) {
      out.push({ service: s.service, label: s.needsLabel, reason: `${labelled.map((n) => `${n.Description?.Hostname ?? n.ID} is ${n.Status?.State !== 'ready' ? n.Status?.State : n.Spec?.Availability}`).join(', ')}` });
    }
  }
  return out;
}
