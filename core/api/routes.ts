/**
 * A route is declared once, with what the OpenAPI document needs to describe
 * it; the app and /v1/openapi.json are both built from the same list.
 */
import type { Context } from "hono";

export type Method = "get" | "post" | "put" | "delete";

/** What the API worker knows of a route: everything but its handler, which stays on its thread. */
export interface RouteInfo {
  method: Method;
  /** OpenAPI-style path: /v1/resources/{name}. */
  path: string;
  summary: string;
  /** Mutating routes need the bearer token. */
  mutating?: boolean;
  /** Media type of the success response. */
  produces: "application/json" | "text/plain" | "text/event-stream" | "text/html";
  /** Success and error codes this route may answer with, and what each means. */
  responses: Record<number, string>;
  /** JSON Schema of the success body, when JSON. */
  schema?: Record<string, unknown>;
}

export interface RouteSpec extends RouteInfo {
  handler(c: Context, params: Record<string, string>): Response | Promise<Response>;
}

const matchers = new Map<string, RegExp>();

/** The path parameters if `path` matches the route's template, else null. */
export function matchPath(template: string, path: string): Record<string, string> | null {
  let re = matchers.get(template);
  if (!re) {
    const source = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{([^}]+)\\?\}/g, "(?<$1>[^/]+)");
    re = new RegExp(`^${source}$`);
    matchers.set(template, re);
  }
  const m = re.exec(path);
  if (!m) return null;
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.groups ?? {})) params[k] = decodeURIComponent(v);
  return params;
}
