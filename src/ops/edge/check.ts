/**
 * The edge as a client sees it, pure: the probe's raw output (a request to nginx's own listener
 * for /health, headers printed by wget -S) → status, the colour nginx routes to (X-Served-By) and
 * the colour whose API answered (X-Modelship-Color); and the verdict against the active colour.
 */
import { SERVICE, type Color } from '../../stack/names.ts';

export interface EdgeFacts {
  /** The probe ran (nginx is running and answered something). */
  reached: boolean;
  status: number | null;
  /** `api-<colour>` nginx routes to (its upstream.conf as loaded), from X-Served-By. */
  servedBy: string | null;
  /** The colour of the API container that answered, from X-Modelship-Color (absent on 502). */
  answeredBy: string | null;
  error?: string;
  /** The probe itself could not run (no wget in the nginx image): nothing is known about the edge. */
  unprobed?: boolean;
}

/** Parses `wget -S` output (GNU or busybox); the last response wins (after redirects). */
export function parseProbeOutput(output: string): Omit<EdgeFacts, 'reached'> {
  const blocks = output.split(/^\s*(?=HTTP\/\d(?:\.\d)? \d{3})/m).filter((b) => /^HTTP\/\d(?:\.\d)? \d{3}/.test(b.trimStart()));
  const last = blocks.at(-1);
  // busybox wget stops at a 5xx status line without printing the headers.
  const errorLine = /server returned error: HTTP\/\d(?:\.\d)? (\d{3})/.exec(output);
  if (errorLine && (!last || output.lastIndexOf(errorLine[0]) > output.lastIndexOf(last))) {
    return { status: Number(errorLine[1]), servedBy: null, answeredBy: null };
  }
  if (!last) {
    const line = output.split('\n').map((l) => l.trim()).filter(Boolean).pop();
    return { status: null, servedBy: null, answeredBy: null, error: line ? line.slice(0, 200) : 'no answer' };
  }
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(last.trimStart())![1]);
  const header = (name: string): string | null => new RegExp(`^\\s*${name}:\\s*(\\S+)`, 'im').exec(last)?.[1] ?? null;
  return { status, servedBy: header('x-served-by'), answeredBy: header('x-modelship-color') };
}

export interface EdgeVerdict {
  ok: boolean;
  /** What a client gets, in one line. */
  summary: string;
  /** Set when nginx routes to another colour than the active one (drift deploy heals). */
  wrongColor: boolean;
}

export function judgeEdge(f: EdgeFacts, active: Color | null): EdgeVerdict {
  if (f.unprobed) return { ok: true, wrongColor: false, summary: `not checked: ${f.error ?? 'the probe could not run'}` };
  if (!f.reached) return { ok: false, wrongColor: false, summary: `no request reaches nginx: ${f.error ?? 'nginx is not running'}` };
  if (f.status === null) return { ok: false, wrongColor: false, summary: `nginx gave no HTTP answer on /health: ${f.error ?? 'no answer'}` };
  const want = active ? SERVICE.api(active) : null;
  if (want && f.servedBy && f.servedBy !== want) {
    return { ok: false, wrongColor: true, summary: `nginx routes to ${f.servedBy} but the active colour is ${active} (HTTP ${f.status} on /health)` };
  }
  if (f.status !== 200) return { ok: false, wrongColor: false, summary: `a request through nginx to /health gets HTTP ${f.status}${f.servedBy ? ` from ${f.servedBy}` : ''}` };
  if (active && f.answeredBy && f.answeredBy !== active) {
    return { ok: false, wrongColor: true, summary: `nginx routes to ${f.servedBy ?? '?'} but the ${f.answeredBy} API answers; the active colour is ${active}` };
  }
  return { ok: true, wrongColor: false, summary: `a request through nginx to /health gets HTTP 200 from ${f.servedBy ?? (f.answeredBy ? SERVICE.api(f.answeredBy as Color) : 'the API')}` };
}
