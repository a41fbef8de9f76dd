/**
 * Which peers may tell the API who the client is (`X-Forwarded-For`). Only a hop listed in
 * `api.trustedProxies` is believed: an IP, a CIDR, a named range (`loopback`, `private`,
 * `linklocal`) or a host name (resolved, and re-resolved every 5 s: the stack's nginx container
 * starts after the API and gets a new address when it is recreated). The client address is then the right-most entry not
 * added by a trusted hop, so a client cannot pick its own rate-limit key by sending the header.
 * Parsing and matching are pure; `ProxyTrust` adds the DNS refresh.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { UserError } from '../util/errors.ts';

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

/** `::ffff:10.0.0.1` is the IPv4 address 10.0.0.1 (a dual-stack socket reports it so). */
export function normalizeAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

export function blockListOf(entries: TrustEntry[], resolved: string[] = []): net.BlockList {
  const list = new net.BlockList();
  for (const e of entries) {
    if (e.kind === 'cidr') list.addSubnet(e.address, e.prefix, e.family === 4 ? 'ipv4' : 'ipv6');
  }
  for (const a of resolved) {
    const f = net.isIP(a);
    if (f) list.addAddress(a, f === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

export function isTrusted(list: net.BlockList, address: string): boolean {
  const a = normalizeAddress(address);
  const f = net.isIP(a);
  if (f === 0) return false;
  return list.check(a, f === 4 ? 'ipv4' : 'ipv6');
}

type Resolver = (name: string) => Promise<string[]>;
const dnsResolver: Resolver = async (name) => (await lookup(name, { all: true })).map((r) => r.address);

/** The trust list with its host names resolved (at start, then every `refreshMs`). */
export class ProxyTrust {
  readonly entries: TrustEntry[];
  #list: net.BlockList;
  #timer: NodeJS.Timeout | undefined;
  readonly #resolve: Resolver;
  readonly #refreshMs: number;

  constructor(specs: string[], opts: { resolve?: Resolver; refreshMs?: number } = {}) {
    const entries: TrustEntry[] = [];
    for (const s of specs) {
      const r = parseTrustEntry(s);
      if (typeof r === 'string') throw new UserError(`trusted proxy ${r}`, { hint: 'fix api.trustedProxies in the config or MODELSHIP_TRUSTED_PROXIES (comma-separated)' });
      entries.push(...r);
    }
    this.entries = entries;
    this.#resolve = opts.resolve ?? dnsResolver;
    this.#refreshMs = opts.refreshMs ?? 5_000;
    this.#list = blockListOf(entries);
  }

  get hosts(): string[] {
    return this.entries.filter((e): e is Extract<TrustEntry, { kind: 'host' }> => e.kind === 'host').map((e) => e.name);
  }

  /** Resolves the host names now (a name that does not resolve trusts nothing). */
  async refresh(): Promise<void> {
    const hosts = this.hosts;
    if (hosts.length === 0) return;
    const resolved = (await Promise.all(hosts.map((h) => this.#resolve(h).catch(() => [] as string[])))).flat();
    this.#list = blockListOf(this.entries, resolved);
  }

  /**
   * Resolves now and keeps re-resolving every few seconds (no-op without host names). Start is not
   * held up by DNS: in the stack the API starts before nginx exists, and its name resolves later.
   */
  start(): Promise<void> {
    if (this.hosts.length === 0) return Promise.resolve();
    const first = this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#refreshMs);
    this.#timer.unref();
    return first;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** For fastify's `trustProxy`: whether the hop at `address` may speak for the one before it. */
  trusts = (address: string): boolean => isTrusted(this.#list, address);
}
