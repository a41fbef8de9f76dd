import { readFileSync } from 'node:fs';
import path from 'node:path';
import { request, type Dispatcher } from 'undici';
import { UserError } from '../../util/errors.ts';
import { ModelNotFoundError } from '../errors.ts';
import { VERSION } from '../../version.ts';
import { hfHome } from './cache.ts';
import { formatHubRef, type HubRef } from '../../config/hub-ref.ts';

/**
 * HTTP to the Hub (or a mirror named by HF_ENDPOINT): the settings from the environment, requests
 * that follow the Hub's redirects to its CDN by hand (the token goes to the Hub's own origin only),
 * and the Hub's error answers turned into messages that say what to do.
 */

export interface HubSettings {
  endpoint: string;
  token: string | undefined;
  /** Where the token came from, for messages (never the token itself). */
  tokenSource: string | undefined;
  offline: boolean;
  /** Longest wait for response headers, and longest silence inside a body. */
  timeoutMs: number;
}

const TRUE = /^(1|true|yes|on)$/i;

export function hubSettings(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const endpoint = (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(endpoint);
  } catch {
    throw new UserError(`HF_ENDPOINT=${endpoint} is not a URL`, { hint: 'set it to the mirror\'s base URL, e.g. HF_ENDPOINT=https://hf-mirror.example.com', exitCode: 2 });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UserError(`HF_ENDPOINT=${endpoint}: expected an http(s) URL`, { exitCode: 2 });
  let token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
  let tokenSource = env.HF_TOKEN ? 'HF_TOKEN' : env.HUGGING_FACE_HUB_TOKEN ? 'HUGGING_FACE_HUB_TOKEN' : undefined;
  if (!token) {
    // The file `huggingface-cli login` / `hf auth login` writes.
    const file = env.HF_TOKEN_PATH ? path.resolve(env.HF_TOKEN_PATH) : path.join(hfHome(env), 'token');
    try {
      const t = readFileSync(file, 'utf8').trim();
      if (t) {
        token = t;
        tokenSource = file;
      }
    } catch {
      // no saved token
    }
  }
  const seconds = Number(env.HF_HUB_DOWNLOAD_TIMEOUT ?? 30);
  return {
    endpoint,
    token,
    tokenSource,
    offline: TRUE.test(env.HF_HUB_OFFLINE ?? '') || TRUE.test(env.TRANSFORMERS_OFFLINE ?? ''),
    timeoutMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 30_000,
  };
}

export interface HubResponse {
  status: number;
  /** Headers of the Hub's own answer (before any redirect): X-Repo-Commit, X-Linked-Etag, X-Linked-Size live here. */
  hubHeaders: Record<string, string>;
  headers: Record<string, string>;
  body: Dispatcher.ResponseData['body'];
  url: string;
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** What the request was for, so an error can name it. */
export interface RequestContext {
  ref: HubRef;
  file?: string;
}

/**
 * GET (or HEAD) `url`, following up to 5 redirects. The token is sent to the endpoint's origin
 * only, never to a CDN on another host. Network failures become UserErrors naming the endpoint.
 */
export async function hubRequest(settings: HubSettings, url: string, ctx: RequestContext, opts: { method?: 'GET' | 'HEAD'; headers?: Record<string, string>; followRedirects?: boolean } = {}): Promise<HubResponse> {
  const origin = new URL(settings.endpoint).origin;
  let current = url;
  let hubHeaders: Record<string, string> | undefined;
  for (let hop = 0; hop <= 5; hop++) {
    const headers: Record<string, string> = { 'user-agent': `modelship/${VERSION}`, 'accept-encoding': 'identity', ...(opts.headers ?? {}) };
    if (settings.token && new URL(current).origin === origin) headers.authorization = `Bearer ${settings.token}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(current, { method: opts.method ?? 'GET', headers, headersTimeout: settings.timeoutMs, bodyTimeout: settings.timeoutMs });
    } catch (err) {
      throw networkError(settings, current, err, ctx);
    }
    const h = flatHeaders(res.headers as Record<string, string | string[] | undefined>);
    hubHeaders ??= h;
    const location = h.location;
    if (res.statusCode >= 300 && res.statusCode < 400 && location && opts.followRedirects !== false) {
      await res.body.dump().catch(() => undefined);
      current = new URL(location, current).toString();
      continue;
    }
    return { status: res.statusCode, hubHeaders, headers: h, body: res.body, url: current };
  }
  throw new UserError(`${formatHubRef(ctx.ref)}: more than 5 redirects from ${url}`, { hint: 'the endpoint (HF_ENDPOINT) redirects in a loop; check the mirror' });
}

export function networkError(settings: HubSettings, url: string, err: unknown, ctx: RequestContext): UserError {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code ?? e.name;
  const host = new URL(url).host;
  const what = ctx.file ? `${formatHubRef(ctx.ref)} ${ctx.file}` : formatHubRef(ctx.ref);
  const timeout = /Timeout/i.test(String(code));
  return new UserError(`${what}: cannot reach ${host}: ${timeout ? `no answer within ${settings.timeoutMs / 1000} s` : code}`, {
    hint: timeout
      ? 'the Hub or mirror is slow or unreachable; raise HF_HUB_DOWNLOAD_TIMEOUT (seconds) or try again'
      : `check the network and HF_ENDPOINT (${settings.endpoint}); offline, HF_HUB_OFFLINE=1 uses what is already in the cache`,
    cause: err,
  });
}

/** Reads at most `limit` bytes of a body as text (error bodies, the model info JSON). */
export async function readBody(body: HubResponse['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += (chunk as Buffer).length;
    if (n > limit) {
      body.destroy();
      throw new UserError(`the Hub's answer is larger than ${limit} bytes`, { hint: 'the endpoint (HF_ENDPOINT) is not behaving like the Hub; check the mirror' });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The Hub's refusal as a message a person can act on. The Hub says why in `X-Error-Code`
 * (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) and `X-Error-Message`; a mirror may
 * only give the status, so the status decides when the code is absent.
 */
export async function hubHttpError(settings: HubSettings, res: HubResponse, ctx: RequestContext): Promise<UserError> {
  const text = await readBody(res.body, 64 * 1024).catch(() => '');
  let serverMessage = res.headers['x-error-message'];
  if (!serverMessage) {
    try {
      const j = JSON.parse(text) as { error?: unknown };
      if (typeof j.error === 'string') serverMessage = j.error;
    } catch {
      // not JSON
    }
  }
  const code = res.headers['x-error-code'];
  const ref = formatHubRef(ctx.ref);
  const said = serverMessage ? ` (the Hub said: ${serverMessage.slice(0, 300)})` : '';
  const repoPage = `${settings.endpoint}/${ctx.ref.repo}`;
  const details = { status: res.status, errorCode: code, url: res.url };
  if (code === 'GatedRepo') {
    return new UserError(`${ref} is a gated repository: its authors must grant access first${said}`, {
      hint: settings.token
        ? `open ${repoPage} signed in as the owner of the token in ${settings.tokenSource}, accept the conditions, and wait for access to be granted`
        : `open ${repoPage}, accept the conditions, then set HF_TOKEN to a read token of that account`,
      details,
    });
  }
  if (code === 'RevisionNotFound') {
    return new UserError(`${ref}: revision "${ctx.ref.revision}" does not exist in ${ctx.ref.repo}${said}`, { hint: 'name a branch, a tag or a full 40-hex commit (e.g. @main); see the repo\'s "Files and versions" page', details });
  }
  if (code === 'EntryNotFound' || (res.status === 404 && ctx.file && code !== 'RepoNotFound')) {
    return new UserError(`${ref}: ${ctx.file ?? 'file'} is not in the repository at ${ctx.ref.revision}${said}`, { hint: 'the repository changed since its file list was read; try again', details });
  }
  if (res.status === 401 || code === 'RepoNotFound' || res.status === 404) {
    if (settings.token && res.status === 401 && code !== 'RepoNotFound') {
      return new UserError(`${ref}: the Hub refused the token from ${settings.tokenSource}${said}`, { hint: 'the token is invalid or expired: create a read token at huggingface.co/settings/tokens and set HF_TOKEN', details });
    }
    return new ModelNotFoundError(ref, `${ref}: repository not found${settings.token ? '' : ', or it is private and no token was given'}${said}`, {
      hint: settings.token
        ? `check the spelling of ${ctx.ref.repo}; if it is private, the account of the token in ${settings.tokenSource} needs access to it`
        : `check the spelling of ${ctx.ref.repo}; for a private repository set HF_TOKEN to a read token`,
      details,
      exitCode: 1,
    });
  }
  if (res.status === 403) {
    return new UserError(`${ref}: access denied${said}`, { hint: `the token from ${settings.tokenSource ?? '(none)'} lacks read access to ${ctx.ref.repo} (a fine-grained token needs it listed)`, details });
  }
  if (res.status === 429) {
    const after = res.headers['retry-after'];
    return new UserError(`${ref}: the Hub is rate-limiting this client${said}`, { hint: `try again${after ? ` after ${after} s` : ' later'}; a token (HF_TOKEN) raises the limit`, details });
  }
  return new UserError(`${ref}${ctx.file ? ` ${ctx.file}` : ''}: the Hub answered HTTP ${res.status}${said}`, {
    hint: res.status >= 500 ? 'the Hub or the mirror failed; try again later' : `unexpected answer from ${res.url}; check HF_ENDPOINT (${settings.endpoint})`,
    details,
  });
}
