/**
 * Recorded intents, reconciled with what nginx really serves. A swap or rollback records
 * `switching` on the host before it points nginx at the new colour and clears it with the final
 * record; a process killed in between leaves the intent behind, and the next command decides from
 * the edge whether the switch reached nginx. Pure.
 */
import type { Color } from '../stack/names.ts';
import type { HostState, SwitchIntent } from '../docker/host-state.ts';

export type IntentDecision =
  | { kind: 'none' }
  /** nginx already serves `to`: finish the operation (drain `from`, roll workers, record). */
  | { kind: 'finish'; intent: SwitchIntent; why: string }
  /** nginx still serves `from`: the switch never happened; forget the intent. */
  | { kind: 'discard'; intent: SwitchIntent; why: string }
  /** nginx serves `to` but no container of it runs while `from` does: point nginx back at `from`. */
  | { kind: 'revert'; intent: SwitchIntent; why: string };

/**
 * `served`: the colour nginx routes to as it runs (X-Served-By), null when nginx could not be
 * asked; `fileColor`: the colour in the upstream file nginx loads at its next start or reload.
 */
export function decideIntent(state: HostState, running: ReadonlySet<string>, served: Color | null, fileColor: Color | null): IntentDecision {
  const intent = state.switching;
  if (!intent) return { kind: 'none' };
  const seen = served ?? fileColor;
  const how = served ? 'nginx serves' : 'nginx is not answering; its upstream file names';
  if (seen === intent.to) {
    if (!running.has(intent.to) && running.has(intent.from)) {
      return { kind: 'revert', intent, why: `an interrupted ${intent.operation} ${intent.from} → ${intent.to}: ${how} ${intent.to}, which no longer runs; ${intent.from} does` };
    }
    return { kind: 'finish', intent, why: `an interrupted ${intent.operation} ${intent.from} → ${intent.to}: ${how} ${intent.to}` };
  }
  return { kind: 'discard', intent, why: `an interrupted ${intent.operation} ${intent.from} → ${intent.to} never switched: ${how} ${seen ?? 'nothing'}` };
}

/**
 * The colour that really serves, as `ps` shows it: the recorded one while it runs; while a switch
 * is recorded as in progress, what nginx serves (`served`, asked only then) if it runs, else the
 * target when the recorded colour has stopped. Never a colour with no running container while
 * another one runs.
 */
export function servingColor(state: HostState, running: ReadonlySet<string>, served: string | null = null): string | null {
  if (state.switching && served && running.has(served)) return served;
  const recorded = state.activeColor ?? null;
  if (recorded && running.has(recorded)) return recorded;
  const target = state.switching?.to;
  if (target && running.has(target)) return target;
  return recorded;
}
