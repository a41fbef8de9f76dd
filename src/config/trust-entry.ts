/**
 * The grammar of an `api.trustedProxies` entry: an IP, a CIDR, a named range (`loopback`,
 * `private`, `linklocal`) or a host name. Pure; the config validates with it, the nginx renderer
 * and the API server (server/proxy-trust.ts) read the parsed entries.
 */
import net from 'node:net';

export const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
};

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export type TrustEntry = { kind: 'cidr'; address: string; prefix: number; family: 4 | 6 } | { kind: 'host'; name: string };

/** Parses one `api.trustedProxies` entry; returns an error message for a bad one. */
export function parseTrustEntry(entry: string): TrustEntry[] | string {
  const e = entry.trim();
  if (NAMED_RANGES[e]) return NAMED_RANGES[e].flatMap((c) => parseTrustEntry(c) as TrustEntry[]);
  const [addr, bits, extra] = e.split('/');
  if (extra !== undefined) return `"${entry}" is not an IP address, a CIDR, a named range (${Object.keys(NAMED_RANGES).join(', ')}) or a host name`;
  const family = net.isIP(addr ?? '');
  if (family === 4 || family === 6) {
    const max = family === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (!(prefix >= 0 && prefix <= max)) return `"${entry}": the prefix length must be 0-${max}`;
    return [{ kind: 'cidr', address: addr!, prefix, family }];
  }
  if (bits === undefined && HOSTNAME_RE.test(e) && !/^\d+(\.\d+)*$/.test(e)) return [{ kind: 'host', name: e }];
  return `"${entry}" is not an IP address, a CIDR, a named range (${Object.keys(NAMED_RANGES).join(', ')}) or a host name`;
}
