/**
 * The director's API under /v1/director/: its virtual services with each real
 * server's health and weight, and the admin's drain, enable and weight of a
 * server (by "SERVICE/ADDRESS:PORT"), kept across reloads until cleared
 * (`enable` clears the override).
 */
import type { RouteSpec } from "../../core/api/routes.ts";
import { problem } from "../../core/api/problem.ts";
import { MAX_WEIGHT } from "../../core/config/primitives.ts";

export interface DirectorHost {
  status(): Record<string, unknown>;
  /** Server keys: "SERVICE/ADDRESS:PORT". */
  servers(): Set<string>;
  /** null clears the override. */
  override(key: string, weight: number | null): void;
}

const ACCEPTED = { 200: "done", 401: "no or wrong token", 403: "no token file configured", 404: "no such server" };

export function directorRoutes(host: DirectorHost): RouteSpec[] {
  const act = (key: string, weight: number | null) => {
    if (!host.servers().has(key)) return problem(404, `no real server "${key}"`, { known: [...host.servers()] });
    host.override(key, weight);
    return Response.json({ server: key, override: weight });
  };
  return [
    {
      method: "get",
      path: "/",
      summary: "the dataplane, whether this node is the active director, the last reconcile, and each virtual service with its real servers' health and weights",
      produces: "application/json",
      responses: { 200: "status" },
      handler: () => Response.json(host.status()),
    },
    {
      method: "post",
      path: "/servers/{service}/{server}/drain",
      summary: "drain a real server: weight 0, no new connections, established ones go on",
      mutating: true,
      produces: "application/json",
      responses: ACCEPTED,
      handler: (_c, p) => act(`${p.service}/${p.server}`, 0),
    },
    {
      method: "post",
      path: "/servers/{service}/{server}/enable",
      summary: "clear the admin's drain or weight: the server takes its checked weight again",
      mutating: true,
      produces: "application/json",
      responses: ACCEPTED,
      handler: (_c, p) => act(`${p.service}/${p.server}`, null),
    },
    {
      method: "post",
      path: "/servers/{service}/{server}/weight/{weight}",
      summary: "set a real server's weight until cleared (enable)",
      mutating: true,
      produces: "application/json",
      responses: { ...ACCEPTED, 400: `not a weight from 0 to ${MAX_WEIGHT}` },
      handler: (_c, p) => {
        const w = Number(p.weight);
        if (!/^\d+$/.test(p.weight!) || w > MAX_WEIGHT) return problem(400, `weight "${p.weight}" is not a whole number from 0 to ${MAX_WEIGHT}`);
        return act(`${p.service}/${p.server}`, w);
      },
    },
  ];
}
