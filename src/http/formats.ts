import type { FastifyInstance } from 'fastify';

/** Registers the response formats of the API besides JSON. */
export async function registerFormats(app: FastifyInstance): Promise<void> {
  void app;
}
