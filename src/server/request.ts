/**
 * Request helpers the route groups share: refusing an announced oversize body before it is read,
 * reading uploaded files, and noticing a client that hung up.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../services/errors.ts';
import type { Metrics } from '../services/metrics.ts';
import { safeFileName } from './params.ts';

/** Route-level onRequest: refuses an announced oversize upload before reading a byte of it. */
export function lengthCheck(maxRequestSize: number) {
  return async (req: FastifyRequest): Promise<void> => {
    const len = Number(req.headers['content-length'] ?? 0);
    if (len > maxRequestSize) {
      throw new ApiError(413, 'request_too_large', `the request is ${len} bytes; the limit is ${maxRequestSize} bytes`);
    }
  };
}

export interface Upload {
  name: string | null;
  data: Uint8Array;
}

/** Reads uploaded files one at a time (busboy stops at the file/count limits; we stop at the total). */
export async function eachUpload(req: FastifyRequest, maxRequestSize: number, onFile: (u: Upload, index: number) => Promise<void>): Promise<number> {
  if (!req.isMultipart()) {
    const body = req.body;
    if (Buffer.isBuffer(body)) {
      await onFile({ name: null, data: body }, 0);
      return 1;
    }
    throw new ApiError(415, 'unsupported_media_type', 'send images as multipart/form-data (one or more file fields) or one image as the raw body with Content-Type image/*');
  }
  let total = 0;
  let n = 0;
  for await (const part of req.parts()) {
    if (part.type !== 'file') continue;
    const data = await part.toBuffer();
    total += data.length;
    if (total > maxRequestSize) throw new ApiError(413, 'request_too_large', `the uploaded files exceed ${maxRequestSize} bytes in total`);
    await onFile({ name: safeFileName(part.filename), data }, n++);
  }
  return n;
}

export const NO_FILES = () => new ApiError(400, 'no_files', 'no file in the request: send at least one file field');

export async function collectUploads(req: FastifyRequest, maxRequestSize: number): Promise<Upload[]> {
  const files: Upload[] = [];
  await eachUpload(req, maxRequestSize, async (u) => {
    files.push(u);
  });
  if (files.length === 0) throw NO_FILES();
  return files;
}

/**
 * Aborts when the client hangs up before its answer is written (a browser tab closed, a proxy
 * timed out): its inputs still waiting in the engine's queue are then dropped instead of run.
 */
export function clientGone(reply: FastifyReply, metrics: Metrics): AbortSignal {
  const ac = new AbortController();
  const gone = () => {
    if (reply.raw.writableFinished || ac.signal.aborted) return;
    metrics.rejected.inc({ reason: 'client_closed' });
    ac.abort(new ApiError(499, 'client_closed', 'the client closed the connection before the answer was ready'));
  };
  // it may have hung up already, while its upload was being read
  if (reply.raw.closed || reply.raw.destroyed) gone();
  else reply.raw.once('close', gone);
  return ac.signal;
}
