/**
 * The director's decision, pure: from the virtual services, their services'
 * servers, each server's health and weight (the checks), the admin's
 * overrides and whether this node is the active director, the state the
 * dataplane must hold. keepalived's rules, as an operator expects them:
 *
 * - a healthy server takes its weight (its misc check's dynamic weight when it
 *   gives one; an admin's weight or drain overrides both);
 * - a failed server is removed, or kept at weight 0 with inhibit_on_failure
 *   (ldirectord's quiescent): no new connections, established ones go on;
 * - a virtual service is up while its healthy weight holds its quorum; with
 *   hysteresis it is lost below quorum - hysteresis and regained at quorum +
 *   hysteresis; with quorum 0 it is up while any server is healthy. While it
 *   is down its sorry server, if it has one, takes the new connections;
 * - every node programs the same dataplane, the active director and the
 *   standbys alike: traffic reaches a director only where the virtual
 *   address is, so a takeover costs only the address (checks run everywhere,
 *   so a standby's dataplane follows current health);
 * - the connection synchronisation's role follows activity: primary where
 *   the director is active (a takeover first commits the connections it
 *   received), backup elsewhere.
 *
 * `step` keeps what outlives one decision, the active/up/down machine, and
 * takes every change of it as an input, a reload included: where it is
 * active (by itself, or where the resource manager runs the director
 * resource), each virtual service's up/down for hysteresis, and the
 * virtual services with their alpha.
 */
import { parseDuration } from "../../core/duration.ts";
import { parseHostPort } from "../../core/os/ip.ts";
import { serverKey } from "../../core/net/address.ts";
import type { ServiceRaw } from "../checks/config.ts";
import type { VirtualServiceRaw } from "./config.ts";
import { serviceKey, type RealServer, type VirtualService } from "./dataplane/model.ts";

export interface Health {
  healthy: boolean;
  /** The weight the checks give it: its dynamic weight, else its configured one. */
  weight: number;
}

export interface DirectorInput {
  virtualServices: readonly VirtualServiceRaw[];
  services: readonly ServiceRaw[];
  /** By server key (checks' serverKey); a server with no entry yet counts as `initial`. */
  health: ReadonlyMap<string, Health>;
  /** By server key: the admin's weight (0: drained), until cleared. */
  overrides: Readonly<Record<string, number>>;
  /** By virtual service name: whether it was up (for hysteresis); missing: up. */
  wasUp: Readonly<Record<string, boolean>>;
}

export interface ServerView {
  key: string;
  address: string;
  port: number;
  healthy: boolean;
  /** The weight it has in the dataplane, or null when it is not there. */
  weight: number | null;
  override: number | null;
}

export interface VirtualServiceView {
  name: string;
  key: string;
  up: boolean;
  healthyWeight: number;
  sorry: boolean;
  servers: ServerView[];
}

export interface DirectorOutput {
  desired: VirtualService[];
  views: VirtualServiceView[];
  /** Each virtual service's up/down, to be given back as `wasUp`. */
  up: Record<string, boolean>;
}

export function virtualServiceKey(vs: VirtualServiceRaw): string {
  return vs.fwmark !== undefined
    ? serviceKey({ protocol: vs.protocol, address: "0.0.0.0", port: 0, fwmark: vs.fwmark })
    : serviceKey({ protocol: vs.protocol, address: vs.address!, port: vs.port! });
}

function isUp(vs: VirtualServiceRaw, healthyWeight: number, anyHealthy: boolean, wasUp: boolean): boolean {
  if (vs.quorum === 0) return anyHealthy;
  return wasUp ? healthyWeight >= vs.quorum - vs.hysteresis : healthyWeight >= vs.quorum + vs.hysteresis;
}

export function decide(input: DirectorInput, initialHealthy: boolean): DirectorOutput {
  const desired: VirtualService[] = [];
  const views: VirtualServiceView[] = [];
  const up: Record<string, boolean> = {};
  for (const vs of input.virtualServices) {
    const service = input.services.find((s) => s.name === vs.service);
    if (!service) continue;
    const reals: RealServer[] = [];
    const servers: ServerView[] = [];
    let healthyWeight = 0;
    let anyHealthy = false;
    for (const server of service.servers) {
      const key = serverKey(service, server);
      const health = input.health.get(key) ?? { healthy: initialHealthy, weight: server.weight };
      const override = input.overrides[key] ?? null;
      const weight = override ?? health.weight;
      const port = server.port ?? service.port ?? vs.port ?? 0;
      let inPlane: number | null = null;
      if (health.healthy) {
        inPlane = weight;
        healthyWeight += weight;
        anyHealthy = true;
      } else if (server.inhibit_on_failure ?? vs.inhibit_on_failure) inPlane = 0;
      if (inPlane !== null) reals.push({ address: server.address, port, weight: inPlane, forwarding: vs.forwarding });
      servers.push({ key, address: server.address, port, healthy: health.healthy, weight: inPlane, override });
    }
    const vsUp = isUp(vs, healthyWeight, anyHealthy, input.wasUp[vs.name] ?? true);
    up[vs.name] = vsUp;
    const sorry = !vsUp && vs.sorry_server !== undefined ? parseHostPort(vs.sorry_server) : undefined;
    const key = virtualServiceKey(vs);
    views.push({ name: vs.name, key, up: vsUp, healthyWeight, sorry: sorry !== undefined, servers });
    const persistence = vs.persistence === undefined ? undefined : { timeoutMs: parseDuration(vs.persistence)!, ...(vs.persistence_netmask ? { netmask: vs.persistence_netmask } : {}) };
    desired.push({
      key,
      protocol: vs.protocol,
      address: vs.fwmark !== undefined ? "0.0.0.0" : vs.address!,
      port: vs.fwmark !== undefined ? 0 : vs.port!,
      ...(vs.fwmark !== undefined ? { fwmark: vs.fwmark } : {}),
      scheduler: vs.scheduler,
      forwarding: vs.forwarding,
      ...(persistence ? { persistence } : {}),
      reals: sorry ? [{ address: sorry.address, port: sorry.port, weight: 1, forwarding: "nat" }] : reals,
    });
  }
  return { desired, views, up };
}

export interface DirectorState {
  virtualServices: readonly VirtualServiceRaw[];
  /** Whether a resource of agent "director" decides where it is active. */
  managed: boolean;
  active: boolean;
  /** By virtual service name: whether it was up; missing: up. */
  wasUp: Record<string, boolean>;
}

export type DirectorStep =
  /** Unmanaged, it is active at once; managed, when the resource manager starts it. */
  | { type: "start"; virtualServices: readonly VirtualServiceRaw[]; managed: boolean }
  /**
   * A reload: unmanaged now, it is active; managed now, it stays as it was
   * until the resource manager starts or stops it (its probe finds what the
   * dataplane holds). A virtual service gone is forgotten; the others keep
   * their up/down, so a new quorum applies with hysteresis from there.
   */
  | { type: "reload"; virtualServices: readonly VirtualServiceRaw[]; managed: boolean }
  /** The director resource's action here: start (this node becomes the active director) or stop. */
  | { type: "agent"; action: "start" | "stop" }
  /** Decide from the checks' health and the admin's overrides now. */
  | { type: "decide"; services: readonly ServiceRaw[]; health: ReadonlyMap<string, Health>; overrides: Readonly<Record<string, number>> };

export type DirectorEffect =
  | { type: "program"; output: DirectorOutput }
  /** The connection synchronisation takes this role (primary: the active director). */
  | { type: "sync"; role: "primary" | "backup" }
  | { type: "event"; event: "director.virtual-service"; data: { name: string; up: boolean; healthyWeight: number; sorry: boolean } };

/** With `alpha` on any virtual service, a server the checks have not judged counts as failed. */
export const initialHealthy = (virtualServices: readonly VirtualServiceRaw[]): boolean => !virtualServices.some((v) => v.alpha);

const syncRole = (active: boolean): DirectorEffect => ({ type: "sync", role: active ? "primary" : "backup" });

export function step(s: DirectorState, input: DirectorStep): { state: DirectorState; effects: DirectorEffect[] } {
  switch (input.type) {
    case "start":
      return { state: { virtualServices: input.virtualServices, managed: input.managed, active: !input.managed, wasUp: {} }, effects: [syncRole(!input.managed)] };
    case "reload": {
      const names = new Set(input.virtualServices.map((v) => v.name));
      const wasUp = Object.fromEntries(Object.entries(s.wasUp).filter(([name]) => names.has(name)));
      const active = input.managed ? s.active : true;
      return { state: { virtualServices: input.virtualServices, managed: input.managed, active, wasUp }, effects: active !== s.active ? [syncRole(active)] : [] };
    }
    case "agent": {
      const active = input.action === "start";
      return { state: { ...s, active }, effects: active !== s.active ? [syncRole(active)] : [] };
    }
    case "decide": {
      const output = decide({ virtualServices: s.virtualServices, services: input.services, health: input.health, overrides: input.overrides, wasUp: s.wasUp }, initialHealthy(s.virtualServices));
      const effects: DirectorEffect[] = output.views
        .filter((v) => (s.wasUp[v.name] ?? true) !== v.up)
        .map((v) => ({ type: "event", event: "director.virtual-service", data: { name: v.name, up: v.up, healthyWeight: v.healthyWeight, sorry: v.sorry } }));
      effects.push({ type: "program", output });
      return { state: { ...s, wasUp: output.up }, effects };
    }
  }
}
