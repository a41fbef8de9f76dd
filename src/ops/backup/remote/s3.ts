/** The S3-compatible remote (AWS SDK v3): custom endpoints (MinIO, Ceph, s3rver…), path-style addressing, multipart uploads for large files. */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { remoteKey } from './url.ts';
import type { RemoteObject, RemoteStore } from './store.ts';

export interface S3Options {
  bucket: string;
  prefix: string;
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  describe: string;
}

/** Files larger than this go up in parts of this size. */
export const PART_BYTES = 64 * 1024 * 1024;

function isMissing(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata.httpStatusCode === 404) && err.name !== 'NoSuchBucket';
}

export function s3Store(o: S3Options): RemoteStore {
  const client = new S3Client({
    region: o.region,
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    forcePathStyle: o.forcePathStyle,
    credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
    // Many S3-compatible servers reject the SDK's default trailing CRC checksums; modelship reads
    // every upload back and compares its own sha256 instead.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 2,
  });
  const key = (rel: string) => remoteKey(o.prefix, rel);
  return {
    describe: o.describe,
    async put(rel, file, size) {
      if (size <= PART_BYTES) {
        await client.send(new PutObjectCommand({ Bucket: o.bucket, Key: key(rel), Body: createReadStream(file), ContentLength: size }));
        return;
      }
      // Past one part (and S3's 5 GB limit for a single PUT): a multipart upload, aborted on failure.
      await new Upload({ client, params: { Bucket: o.bucket, Key: key(rel), Body: createReadStream(file) }, partSize: PART_BYTES, queueSize: 2, leavePartsOnError: false }).done();
    },
    async putText(rel, text) {
      await client.send(new PutObjectCommand({ Bucket: o.bucket, Key: key(rel), Body: text, ContentType: 'application/json' }));
    },
    async read(rel) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: o.bucket, Key: key(rel) }));
        return r.Body as Readable;
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
    },
    async getText(rel) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: o.bucket, Key: key(rel) }));
        return (await r.Body?.transformToString('utf8')) ?? '';
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
    },
    async list(prefix) {
      const out: RemoteObject[] = [];
      const full = key(prefix);
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: o.bucket, Prefix: full, ...(token ? { ContinuationToken: token } : {}) }));
        for (const c of r.Contents ?? []) if (c.Key) out.push({ key: o.prefix ? c.Key.slice(o.prefix.length + 1) : c.Key, size: c.Size ?? 0 });
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async remove(rel) {
      await client.send(new DeleteObjectCommand({ Bucket: o.bucket, Key: key(rel) }));
    },
    async close() {
      client.destroy();
    },
  };
}
