import type { FastifyInstance } from 'fastify';

import type { RouteDocs } from './operation-docs.js';

/** One route as Fastify registered it, with the documentation it carries. */
export interface CatalogRoute {
  /** Fastify's pattern, such as `/api/2.0/accounts/sessions/:id/`. */
  url: string;
  methods: string[];
  /** Undefined for a route registered without documentation. */
  docs: RouteDocs | undefined;
  /** Whether the route opted out of API documentation with `schema.hide`, as the reference page's own files do. */
  hidden: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    routeCatalog: RouteCatalog;
  }
}

/**
 * Every route of an app, collected by an `onRoute` hook as it is registered, so that the OpenAPI document
 * is built from what the server serves and a route without documentation shows up.
 */
export class RouteCatalog {
  readonly routes: CatalogRoute[] = [];

  /** Starts collecting the routes of `app` and decorates it with the catalog. Call it before any route is registered. */
  static collect(app: FastifyInstance): RouteCatalog {
    const catalog = new RouteCatalog();
    app.decorate('routeCatalog', catalog);

    app.addHook('onRoute', (route) => {
      const schema = route.schema as { hide?: unknown } | undefined;
      catalog.routes.push({
        url: route.url,
        methods: [route.method].flat(),
        docs: route.config?.docs,
        hidden: schema?.hide === true,
      });
    });
    return catalog;
  }

  /** Returns the routes that carry no documentation and did not opt out of it. */
  undocumented(): CatalogRoute[] {
    return this.routes.filter((route) => route.docs === undefined && !route.hidden);
  }
}
