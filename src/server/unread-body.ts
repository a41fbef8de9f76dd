/**
 * What to do with the body of a request refused before it was read: a small one is read and
 * discarded (the connection stays usable, and a client still sending does not get a reset), a
 * large one, or one the client waits to send (`Expect: 100-continue`), is not read at all and
 * the connection closes after the answer. Pure.
 */
export function unreadBodyPolicy(headers: { 'content-length'?: string | undefined; expect?: string | undefined; 'transfer-encoding'?: string | undefined }, drainLimit: number): 'none' | 'drain' | 'close' {
  if (headers.expect !== undefined && /100-continue/i.test(headers.expect)) return 'close';
  const te = headers['transfer-encoding'];
  if (te !== undefined) return 'close'; // unknown length
  const len = Number(headers['content-length'] ?? 0);
  if (!Number.isFinite(len) || len <= 0) return 'none';
  return len <= drainLimit ? 'drain' : 'close';
}

/** Bodies up to this size are drained after an early refusal; larger ones close the connection. */
export const DRAIN_LIMIT_BYTES = 1024 * 1024;
