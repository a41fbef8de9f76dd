/**
 * HTTP/1.1 over a bare socket, for tests that must send exactly the bytes a client sends (header
 * set and order, body framing) and see exactly what comes back (interim 100 Continue included).
 */
import net from 'node:net';
import zlib from 'node:zlib';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Interim responses seen before the final one (e.g. [100]). */
  interim: number[];
}

/** Splits `buf` into one response if complete; returns undefined while more bytes are needed. */
export function parseResponse(buf: Buffer, closed: boolean): RawResponse | undefined {
  const interim: number[] = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end < 0) return undefined;
    const head = buf.subarray(off, end).toString('latin1').split('\r\n');
    const status = Number(head[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const start = end + 4;
    if (status >= 100 && status < 200) {
      interim.push(status);
      off = start;
      continue;
    }
    let body: Buffer;
    if (headers['transfer-encoding']?.includes('chunked')) {
      const parts: Buffer[] = [];
      let p = start;
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) return undefined;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (size === 0) break;
        if (buf.length < le + 2 + size + 2) return undefined;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      if (buf.length < start + len) return undefined;
      body = buf.subarray(start, start + len);
    } else {
      if (!closed) return undefined;
      body = buf.subarray(start);
    }
    if (headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
    else if (headers['content-encoding'] === 'br') body = zlib.brotliDecompressSync(body);
    else if (headers['content-encoding'] === 'deflate') body = zlib.inflateSync(body);
    return { status, headers, body, interim };
  }
}

/** Sends `head` (request line + headers, CRLF-separated, no final blank line) and `body`; resolves with the response. */
export async function rawRequest(port: number, head: string[], body: Buffer = Buffer.alloc(0), opts: { timeoutMs?: number; host?: string } = {}): Promise<RawResponse> {
  const sock = net.connect(port, opts.host ?? '127.0.0.1');
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete response within ${opts.timeoutMs ?? 30_000} ms; got: ${buf.subarray(0, 300).toString('latin1')}`));
    }, opts.timeoutMs ?? 30_000);
    const done = (closed: boolean) => {
      const r = parseResponse(buf, closed);
      if (r) {
        clearTimeout(timer);
        sock.destroy();
        resolve(r);
      } else if (closed) {
        clearTimeout(timer);
        reject(new Error(`connection closed before a complete response: ${buf.subarray(0, 300).toString('latin1')}`));
      }
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      done(false);
    });
    sock.on('end', () => done(true));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.write(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body]));
  });
}
