/** GET /v1/models: the models this server can run, which backend runs them, and which are the defaults. */
import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.ts';

export const modelRoutes: FastifyPluginAsync<ServerContext> = async (app, { service, settings: s }) => {
  app.get('/v1/models', async () => {
    const info = await service.engine.info();
    // the config names defaults by spec (`hf:ORG/NAME` too); the list shows resolved names
    const defaults = new Set([s.models.image, s.models.text, s.models.detection].map((spec) => service.engine.resolvedName(spec)));
    return { backend: info.backend.name, device: info.backend.device, models: info.models.map((m) => ({ ...m, default: defaults.has(m.name) })) };
  });
};
