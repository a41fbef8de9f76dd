import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A Hugging Face Hub mirror on 127.0.0.1 that speaks the Hub's HTTP contract, for tests:
 * - `GET /api/models/ORG/NAME/revision/REV[?blobs=true]`: id, sha (commit), private, gated,
 *   siblings with rfilename, size, blobId and, for LFS files, lfs {sha256, size, pointerSize};
 * - `GET|HEAD /ORG/NAME/resolve/REV/PATH`: small files answered directly (ETag = git blob sha1),
 *   LFS files 302-redirected to a CDN-like `/cdn/…` path (X-Linked-Etag = sha256, X-Linked-Size),
 *   X-Repo-Commit on both; the CDN honours Range (206 + Content-Range);
 * - errors as the Hub gives them: 401 + X-Error-Code RepoNotFound for a private or missing repo
 *   without a token, 404 RevisionNotFound / EntryNotFound, 403 GatedRepo.
 * Faults for tests: cut a transfer after N bytes (once), serve corrupted bytes, ignore Range.
 */

export interface MirrorFileSpec {
  path: string;
  bytes: Buffer;
  /** Stored with Git LFS (default: weight files, as the Hub's default .gitattributes says, and anything over 10 MB). */
  lfs?: boolean;
}

export interface MirrorRepoSpec {
  id: string;
  files: MirrorFileSpec[];
  private?: boolean;
  gated?: boolean;
  license?: string;
  pipelineTag?: string;
  /** Extra branch or tag names pointing at the commit (main always does). */
  refs?: string[];
}

interface StoredFile {
  path: string;
  bytes: Buffer;
  lfs: boolean;
  sha256: string;
  gitSha1: string;
}

interface StoredRepo {
  spec: MirrorRepoSpec;
  commit: string;
  files: Map<string, StoredFile>;
}

export interface MirrorRequest {
  method: string;
  path: string;
  range?: string | undefined;
  auth?: string | undefined;
  /** Body bytes sent (after any fault). */
  sent: number;
}

export const MIRROR_TOKEN = 'hf_mirror_test_token';

function gitBlobSha1(bytes: Buffer): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

export class HubMirror {
  readonly log: MirrorRequest[] = [];
  /** sha256 → bytes after which the next CDN transfer of that object is cut (then cleared). */
  readonly cutOnce = new Map<string, number>();
  /** sha256s whose CDN bytes are served with one byte flipped. */
  readonly corrupt = new Set<string>();
  ignoreRange = false;
  private readonly repos = new Map<string, StoredRepo>();
  private server!: http.Server;
  private cdnServer!: http.Server;
  url = '';
  /** The CDN the Hub redirects LFS downloads to: another origin (port), as cdn-lfs.hf.co is for huggingface.co. */
  cdnUrl = '';

  static async start(): Promise<HubMirror> {
    const m = new HubMirror();
    m.server = http.createServer((req, res) => m.handle(req, res, false));
    m.cdnServer = http.createServer((req, res) => m.handle(req, res, true));
    await new Promise<void>((resolve) => m.server.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => m.cdnServer.listen(0, '127.0.0.1', resolve));
    m.url = `http://127.0.0.1:${(m.server.address() as AddressInfo).port}`;
    m.cdnUrl = `http://127.0.0.1:${(m.cdnServer.address() as AddressInfo).port}`;
    return m;
  }

  addRepo(spec: MirrorRepoSpec): { commit: string; files: StoredFile[] } {
    const files = new Map<string, StoredFile>();
    for (const f of spec.files) {
      files.set(f.path, { path: f.path, bytes: f.bytes, lfs: f.lfs ?? (/\.(onnx|onnx_data|bin|safetensors|h5|msgpack|pt)$/.test(f.path) || f.bytes.length > 10_000_000), sha256: createHash('sha256').update(f.bytes).digest('hex'), gitSha1: gitBlobSha1(f.bytes) });
    }
    const commit = createHash('sha1').update(spec.id).update([...files.values()].map((f) => `${f.path}:${f.sha256}`).join('\n')).digest('hex');
    this.repos.set(spec.id.toLowerCase(), { spec, commit, files });
    return { commit, files: [...files.values()] };
  }

  requests(filter: (r: MirrorRequest) => boolean = () => true): MirrorRequest[] {
    return this.log.filter(filter);
  }

  async close(): Promise<void> {
    for (const srv of [this.server, this.cdnServer]) {
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  }

  private error(res: http.ServerResponse, status: number, code: string | undefined, message: string): void {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-error-message': message };
    if (code) headers['x-error-code'] = code;
    res.writeHead(status, headers).end(JSON.stringify({ error: message }));
  }

  /** The repo if the caller may see it; otherwise the Hub's answer has been sent. */
  private access(req: http.IncomingMessage, res: http.ServerResponse, id: string): StoredRepo | undefined {
    const repo = this.repos.get(id.toLowerCase());
    const auth = req.headers.authorization;
    if (auth && auth !== `Bearer ${MIRROR_TOKEN}`) {
      this.error(res, 401, undefined, 'Invalid credentials in Authorization header');
      return undefined;
    }
    if (!repo || (repo.spec.private && !auth)) {
      // The Hub does not tell a private repo from a missing one.
      if (auth) this.error(res, 404, 'RepoNotFound', `Repository not found`);
      else this.error(res, 401, 'RepoNotFound', 'Repository Not Found for url. Please make sure you specified the correct `repo_id` and `repo_type`. If you are trying to access a private or gated repo, make sure you are authenticated.');
      return undefined;
    }
    return repo;
  }

  private commitOf(repo: StoredRepo, rev: string): string | undefined {
    if (rev === repo.commit || rev === 'main' || (repo.spec.refs ?? []).includes(rev)) return repo.commit;
    return undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, cdn: boolean): void {
    const url = new URL(req.url ?? '/', cdn ? this.cdnUrl : this.url);
    const entry: MirrorRequest = { method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), range: req.headers.range, auth: req.headers.authorization, sent: 0 };
    this.log.push(entry);
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);

    if (!cdn && parts[0] === 'api' && parts[1] === 'models' && parts[4] === 'revision') {
      const repo = this.access(req, res, `${parts[2]}/${parts[3]}`);
      if (!repo) return;
      const rev = parts.slice(5).join('/');
      const commit = this.commitOf(repo, rev);
      if (!commit) return this.error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      const blobs = url.searchParams.get('blobs') === 'true';
      const siblings = [...repo.files.values()].map((f) => ({
        rfilename: f.path,
        ...(blobs ? { size: f.bytes.length, blobId: f.gitSha1, ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.bytes.length, pointerSize: 134 } } : {}) } : {}),
      }));
      const body = JSON.stringify({ _id: 'x', id: repo.spec.id, sha: commit, private: repo.spec.private === true, gated: repo.spec.gated ? 'manual' : false, disabled: false, tags: ['onnx', ...(repo.spec.license ? [`license:${repo.spec.license}`] : [])], pipeline_tag: repo.spec.pipelineTag, library_name: 'transformers.js', siblings, cardData: repo.spec.license ? { license: repo.spec.license } : {} });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }

    const resolveAt = parts.indexOf('resolve');
    if (!cdn && resolveAt === 2) {
      const repo = this.access(req, res, `${parts[0]}/${parts[1]}`);
      if (!repo) return;
      if (repo.spec.gated) return this.error(res, 403, 'GatedRepo', `Access to model ${repo.spec.id} is restricted and you are not in the authorized list. Visit ${this.url}/${repo.spec.id} to ask for access.`);
      const rev = parts[3] ?? '';
      const commit = this.commitOf(repo, rev);
      if (!commit) return this.error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      const file = repo.files.get(parts.slice(4).join('/'));
      if (!file) return this.error(res, 404, 'EntryNotFound', `Entry not found`);
      if (file.lfs) {
        res.writeHead(302, {
          location: `${this.cdnUrl}/cdn/${repo.spec.id}/${file.sha256}?response-content-disposition=attachment`,
          'x-repo-commit': commit,
          'x-linked-etag': `"${file.sha256}"`,
          'x-linked-size': String(file.bytes.length),
          etag: `"${file.gitSha1}"`,
          'content-length': '0',
        }).end();
        return;
      }
      res.writeHead(200, { 'x-repo-commit': commit, etag: `"${file.gitSha1}"`, 'content-length': String(file.bytes.length), 'content-type': 'application/octet-stream' });
      if (req.method === 'HEAD') return void res.end();
      entry.sent = file.bytes.length;
      res.end(file.bytes);
      return;
    }

    if (cdn && parts[0] === 'cdn') {
      const sha = parts[3] ?? '';
      const repo = this.repos.get(`${parts[1]}/${parts[2]}`.toLowerCase());
      const file = repo && [...repo.files.values()].find((f) => f.sha256 === sha);
      if (!file) return void res.writeHead(404).end('NoSuchKey');
      let bytes = file.bytes;
      if (this.corrupt.has(sha)) {
        bytes = Buffer.from(bytes);
        const mid = bytes.length >> 1;
        bytes[mid] = bytes[mid]! ^ 0xff;
      }
      let start = 0;
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (m && !this.ignoreRange) {
        start = Number(m[1]);
        if (start >= bytes.length) return void res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
        res.writeHead(206, { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}`, 'content-length': String(bytes.length - start), etag: `"${sha}"`, 'accept-ranges': 'bytes' });
      } else {
        res.writeHead(200, { 'content-length': String(bytes.length), etag: `"${sha}"`, 'accept-ranges': 'bytes' });
      }
      if (req.method === 'HEAD') return void res.end();
      const cut = this.cutOnce.get(sha);
      if (cut !== undefined) {
        this.cutOnce.delete(sha);
        const part = bytes.subarray(start, Math.max(start, cut));
        entry.sent = part.length;
        res.write(part, () => res.destroy());
        return;
      }
      entry.sent = bytes.length - start;
      res.end(bytes.subarray(start));
      return;
    }
    res.writeHead(404).end('not found');
  }
}

/** Laid out as the Hub holds a transformers.js / optimum ONNX export: config.json, preprocessor_config.json, onnx/model*.onnx. */
export function imageClassifierRepo(id: string, onnx: Buffer, labels: string[], extra: MirrorFileSpec[] = []): MirrorRepoSpec {
  const config = { architectures: ['MobileNetV2ForImageClassification'], model_type: 'mobilenet_v2', id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(labels.map((l, i) => [l, i])) };
  const pre = { image_processor_type: 'MobileNetV2ImageProcessor', do_resize: true, size: { shortest_edge: 256 }, do_center_crop: true, crop_size: { height: 224, width: 224 }, do_rescale: true, rescale_factor: 0.00392156862745098, do_normalize: true, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225], resample: 2 };
  return {
    id,
    license: 'apache-2.0',
    pipelineTag: 'image-classification',
    files: [
      { path: '.gitattributes', bytes: Buffer.from('*.onnx filter=lfs diff=lfs merge=lfs -text\n') },
      { path: 'README.md', bytes: Buffer.from('---\nlicense: apache-2.0\nlibrary_name: transformers.js\n---\n# test model\n') },
      { path: 'config.json', bytes: Buffer.from(JSON.stringify(config, null, 2)) },
      { path: 'preprocessor_config.json', bytes: Buffer.from(JSON.stringify(pre, null, 2)) },
      { path: 'onnx/model_quantized.onnx', bytes: onnx },
      ...extra,
    ],
  };
}
