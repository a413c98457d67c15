/**
 * The proxy's API under /v1/proxy/: its frontends, backends and servers with
 * their counters and states, and the operator's runtime changes of a server
 * (by "SERVICE/ADDRESS:PORT"): drain, maint, ready (clears both the admin
 * state and the weight) and weight N, in force on every backend of that
 * service and kept in the state dir across restarts until cleared.
 */
import type { RouteSpec } from "../../core/api/routes.ts";
import { problem } from "../../core/api/problem.ts";
import { MAX_WEIGHT } from "../../core/config/primitives.ts";
import type { AdminChange, AdminVerb } from "./admin.ts";

export interface ProxyHost {
  status(): Record<string, unknown>;
  /** Server keys of the backends: "SERVICE/ADDRESS:PORT". */
  servers(): Set<string>;
  /** Apply a change; the server's change now (null: none). */
  change(key: string, v: AdminVerb): AdminChange | null;
}

const ACCEPTED = { 200: "done", 401: "no or wrong token", 403: "no token file configured", 404: "no such server" };

const VERBS = [
  ["drain", "drain a server: it keeps its sticky clients and the requests in flight, and takes no new ones (HAProxy's drain)"],
  ["maint", "put a server in maintenance: it takes no requests at all (HAProxy's maint, disable server)"],
  ["ready", "clear the operator's drain, maint and weight: the server takes traffic at its checked weight again (enable server)"],
] as const;

export function proxyRoutes(host: ProxyHost): RouteSpec[] {
  const act = (service: string, server: string, v: AdminVerb) => {
    const key = `${service}/${server}`;
    if (!host.servers().has(key)) return problem(404, `no server "${key}" in a backend`, { known: [...host.servers()] });
    return Response.json({ server: key, change: host.change(key, v) });
  };
  return [
    {
      method: "get",
      path: "/",
      summary: "whether the listeners run here, the workers, and each frontend and backend with its counters and each server's state (check, passive health, the operator's change)",
      produces: "application/json",
      responses: { 200: "status" },
      handler: () => Response.json(host.status()),
    },
    ...VERBS.map(
      ([verb, summary]): RouteSpec => ({
        method: "post",
        path: `/servers/{service}/{server}/${verb}`,
        summary,
        mutating: true,
        produces: "application/json",
        responses: ACCEPTED,
        handler: (_c, p) => act(p.service!, p.server!, { verb }),
      }),
    ),
    {
      method: "post",
      path: "/servers/{service}/{server}/weight/{weight}",
      summary: "set a server's weight until cleared (ready)",
      mutating: true,
      produces: "application/json",
      responses: { ...ACCEPTED, 400: `not a weight from 0 to ${MAX_WEIGHT}` },
      handler: (_c, p) => {
        const w = Number(p.weight);
        if (!/^\d+$/.test(p.weight!) || w > MAX_WEIGHT) return problem(400, `weight "${p.weight}" is not a whole number from 0 to ${MAX_WEIGHT}`);
        return act(p.service!, p.server!, { verb: "weight", weight: w });
      },
    },
  ];
}
