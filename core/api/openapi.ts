/** The OpenAPI 3.1 document, generated from the same route list the app serves. */
import type { RouteInfo } from "./routes.ts";

const PROBLEM = {
  type: "object",
  required: ["type", "title", "status"],
  properties: { type: { type: "string" }, title: { type: "string" }, status: { type: "integer" }, detail: { type: "string" } },
};

export function openapi(routes: readonly RouteInfo[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const params = [...r.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    const responses: Record<string, unknown> = {};
    for (const [code, description] of Object.entries(r.responses)) {
      const ok = Number(code) < 400;
      responses[code] = {
        description,
        content: ok
          ? { [r.produces]: { schema: r.schema ?? (r.produces === "application/json" ? { type: "object" } : { type: "string" }) } }
          : { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
      };
    }
    (paths[r.path] ??= {})[r.method] = {
      summary: r.summary,
      ...(params.length ? { parameters: params } : {}),
      ...(r.mutating ? { security: [{ bearer: [] }] } : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Tandem node API", version, description: "Status, events, metrics and administration of one Tandem node." },
    paths,
    components: {
      schemas: { Problem: PROBLEM },
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "the token from the config's api.token_file" } },
    },
  };
}
