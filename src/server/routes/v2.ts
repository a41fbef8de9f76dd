/**
 * The Open Inference Protocol (KServe V2) routes: server and model metadata, liveness and
 * readiness (server and per model), and infer with the binary tensor data extension. The wire
 * format is v2/protocol.ts; this wires it to the inference service. Registered as its own fastify
 * context: its body parser takes any body (tritonclient sends no Content-Type; the body is JSON,
 * or JSON then binary tensors) and every JSON answer says exactly `application/json` (the KServe
 * client reads an error's message only then).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ClassificationResult, DetectionResult } from '../../inference/types.ts';
import { VERSION } from '../../version.ts';
import { ApiError } from '../../services/errors.ts';
import type { ApiTask, InferResult } from '../../services/inference.ts';
import type { ServerContext } from '../context.ts';
import { parseQueryOptions } from '../params.ts';
import { clientGone, lengthCheck } from '../request.ts';
import { acceptsMediaType, decodeRequest, encodeResponse, EXTENSIONS, INFERENCE_HEADER, signature, splitBody, type OutputTensor } from '../v2/protocol.ts';

/** Route patterns of the per-model readiness probes (health probes: no key, no rate limit, not counted by the drain). */
export const V2_MODEL_READY_ROUTES = ['/v2/models/:name/ready', '/v2/models/:name/versions/:version/ready'];

const TASK: Record<string, ApiTask> = { 'image-classification': 'image', 'text-classification': 'text', 'object-detection': 'detect' };

/** The model `name` (and `version`, when given) as the engine lists it; 404 otherwise. */
async function findModel(ctx: ServerContext, name: string, version?: string) {
  const info = await ctx.service.engine.info();
  const m = info.models.find((x) => x.name === name);
  if (!m || (version !== undefined && version !== m.version)) throw new ApiError(404, 'model_not_found', `model ${name}${version ? ` version ${version}` : ''} not found`);
  return m;
}

const metadata = (ctx: ServerContext) => async (req: FastifyRequest) => {
  const p = req.params as { name: string; version?: string };
  const m = await findModel(ctx, p.name, p.version);
  const sig = signature(m.task);
  return { name: m.name, versions: [m.version], platform: `modelship_${m.runtime}`, inputs: sig.inputs, outputs: sig.outputs };
};

/** Ready = loaded and warm. An unloaded model starts loading here and says false until it is. */
const modelReady = (ctx: ServerContext) => async (req: FastifyRequest, reply: FastifyReply) => {
  const { service, drain } = ctx;
  const p = req.params as { name: string; version?: string };
  const m = await findModel(ctx, p.name, p.version);
  const st = service.models.get(m.name);
  if (st.state === 'ready' && !drain.draining) return { name: m.name, ready: true };
  if (service.models.shouldLoad(m.name)) void service.warmModel(m.name, TASK[m.task]!).catch(() => {});
  const now = service.models.get(m.name);
  reply.code(503).header('retry-after', '5');
  return { name: m.name, ready: false, state: drain.draining ? 'draining' : now.state, ...(now.error ? { error: now.error } : {}) };
};

/** Refuses before the body is read: wrong media type (415), too large (413), no capacity (503). */
const beforeBody = (ctx: ServerContext) => {
  const checkLength = lengthCheck(ctx.settings.limits.maxRequestSize);
  return async (req: FastifyRequest) => {
    const ct = req.headers['content-type'];
    if (!acceptsMediaType(ct)) {
      throw new ApiError(415, 'unsupported_media_type', `an inference request is JSON (Content-Type application/json, or none), optionally followed by binary tensors (application/octet-stream with Inference-Header-Content-Length); got ${ct}`);
    }
    await checkLength(req);
    const p = req.params as { name: string };
    ctx.service.admit(p.name, 1);
  };
};

const infer = (ctx: ServerContext) => async (req: FastifyRequest, reply: FastifyReply) => {
  const { service, settings: s } = ctx;
  const p = req.params as { name: string; version?: string };
  const m = await findModel(ctx, p.name, p.version);
  const task = TASK[m.task]!;
  const body = req.body;
  if (!Buffer.isBuffer(body) || body.length === 0) throw new ApiError(400, 'bad_json', 'empty request body: send the inference request as JSON');
  const { json, binary } = splitBody(body, req.headers[INFERENCE_HEADER]);
  const sig = signature(m.task);
  const d = decodeRequest(json, binary, sig, m.name, { maxElements: task === 'text' ? s.limits.maxTexts : s.limits.maxFiles, maxFileSize: s.limits.maxFileSize, maxTextLength: s.limits.maxTextLength });
  const opts = parseQueryOptions({ topK: d.parameters.top_k, threshold: d.parameters.threshold });
  const results = await service.run(task, d.elements, { ...opts, model: m.name, signal: clientGone(reply, ctx.metrics) });
  const failed = results.find((r): r is { error: ApiError } => 'error' in r);
  if (failed) throw failed.error;
  const ok = results as InferResult[];
  const tensors = outputTensors(task, ok);
  const out = encodeResponse({ model_name: m.name, model_version: m.version, id: d.id ?? req.id, parameters: { backend: ok[0]!.backend } }, tensors, d.outputs);
  if (out.headerLength !== undefined) reply.header(INFERENCE_HEADER, String(out.headerLength)).type('application/octet-stream');
  else reply.type('application/json');
  return reply.send(out.body);
};

export const v2Routes: FastifyPluginAsync<ServerContext> = async (v2, ctx) => {
  v2.removeAllContentTypeParsers();
  v2.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ctx.settings.limits.maxJsonSize }, (_req, body, done) => done(null, body));
  v2.addHook('onSend', async (_req, reply, payload) => {
    const ct = reply.getHeader('content-type');
    if (typeof ct === 'string' && ct.startsWith('application/json')) reply.header('content-type', 'application/json');
    return payload;
  });
  v2.get('/v2', async () => ({ name: 'modelship', version: VERSION, extensions: EXTENSIONS }));
  v2.get('/v2/health/live', async () => ({ live: true }));
  v2.get('/v2/health/ready', async (_req, reply) => {
    const { ready } = await ctx.readiness();
    reply.code(ready ? 200 : 503);
    return { ready };
  });
  v2.get('/v2/models/:name', metadata(ctx));
  v2.get('/v2/models/:name/versions/:version', metadata(ctx));
  for (const url of V2_MODEL_READY_ROUTES) v2.get(url, { config: { rateLimit: false } }, modelReady(ctx));
  v2.post('/v2/models/:name/infer', { onRequest: beforeBody(ctx) }, infer(ctx));
  v2.post('/v2/models/:name/versions/:version/infer', { onRequest: beforeBody(ctx) }, infer(ctx));
};

function outputTensors(task: ApiTask, ok: InferResult[]): OutputTensor[] {
  if (task === 'detect') {
    return [{ name: 'detections', datatype: 'BYTES', shape: [ok.length], data: ok.map((r) => JSON.stringify((r as DetectionResult).detections)) }];
  }
  const k = Math.max(...ok.map((r) => (r as ClassificationResult).predictions.length));
  const labels: string[] = [];
  const scores: number[] = [];
  for (const r of ok) {
    const preds = (r as ClassificationResult).predictions;
    for (let i = 0; i < k; i++) {
      labels.push(preds[i]?.label ?? '');
      scores.push(preds[i]?.score ?? 0);
    }
  }
  return [
    { name: 'label', datatype: 'BYTES', shape: [ok.length, k], data: labels },
    { name: 'score', datatype: 'FP32', shape: [ok.length, k], data: scores },
  ];
}
