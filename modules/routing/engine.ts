/**
 * The announcement engine, pure: which virtual addresses this node announces
 * to its BGP peers. A router sends a flow to every director that announces
 * the address, so a node announces only while it can serve what is there:
 *
 * - the director is active here (by itself, or where the resource manager
 *   runs the director resource or its clone instance);
 * - the virtual service is up: its quorum of healthy servers is met (the
 *   director's own up/down, with its hysteresis);
 * - the node is not in standby;
 * - the node is quorate (a node cut off from its cluster may be fenced, and
 *   its peers may already serve in its place);
 * - active/active on IPVS: the node holds the address on its loopback with
 *   the settings it needs (routing/hosting.ts); one it failed to hold would
 *   draw flows that IPVS never sees.
 *
 * Several virtual services may share an address (ports 80 and 443): the
 * router cannot tell them apart, so the address is announced only while
 * every announced service on it may be served here. Any rule that stops
 * holding withdraws at once (no hold-down: a withdrawal costs only a move of
 * flows to the other directors, an announcement that lies costs failed
 * connections); a clean stop withdraws everything before the node goes.
 * Until the first view of the node arrives nothing is announced.
 *
 * `step` takes the node's view whenever it may have changed and answers
 * with the whole set to announce when it differs from the last one, and one
 * event per address announced or withdrawn, with the rule that withdrew it.
 */

/** A virtual service with `announce = true`: its name and address. */
export interface AnnouncedService {
  name: string;
  address: string;
}

/** What this node knows of itself, as the director, the resource manager and the heartbeat say it. */
export interface NodeView {
  /** The director module's view; null while it does not run here. */
  director: { active: boolean; up: Readonly<Record<string, boolean>> } | null;
  standby: boolean;
  quorate: boolean;
  /** Active/active on IPVS: the prefixes this node failed to hold (routing/hosting.ts); absent when none. */
  unhosted?: readonly string[];
}

/** Why an address is not announced, in the order the rules are checked (removed: no announced service has it any more). */
export type WithdrawReason = "removed" | "stopping" | "no-view" | "no-director" | "director-inactive" | "service-down" | "standby" | "no-quorum" | "not-hosted";

export interface RoutingState {
  services: readonly AnnouncedService[];
  view: NodeView | null;
  stopping: boolean;
  /** The prefixes announced now (address/32 or /128), sorted. */
  announced: readonly string[];
}

export type RoutingInput =
  | { type: "start"; services: readonly AnnouncedService[] }
  /** The announced services changed (a reload): a service gone is withdrawn, one added is judged at once. */
  | { type: "reload"; services: readonly AnnouncedService[] }
  | { type: "observe"; view: NodeView }
  /** A clean stop: everything is withdrawn, and nothing is announced again. */
  | { type: "stop" };

export type RoutingEffect =
  /** BIRD must announce exactly these prefixes (sorted). */
  | { type: "announce"; prefixes: readonly string[] }
  | { type: "event"; event: "routing.announce"; data: { prefix: string; services: string[] } }
  | { type: "event"; event: "routing.withdraw"; data: { prefix: string; services: string[]; reason: WithdrawReason; service?: string } };

/** The host prefix of an address: /128 for IPv6, /32 for IPv4. */
export function prefixOf(address: string): string {
  return address.includes(":") ? `${address}/128` : `${address}/32`;
}

/** Why this node may not serve the service now, or null when it may. */
export function refusal(s: Pick<RoutingState, "view" | "stopping">, service: string, prefix: string): WithdrawReason | null {
  if (s.stopping) return "stopping";
  const v = s.view;
  if (!v) return "no-view";
  if (!v.director) return "no-director";
  if (!v.director.active) return "director-inactive";
  if (v.director.up[service] !== true) return "service-down";
  if (v.standby) return "standby";
  if (!v.quorate) return "no-quorum";
  if (v.unhosted?.includes(prefix)) return "not-hosted";
  return null;
}

export interface Judgement {
  prefix: string;
  services: string[];
  /** null: announced; else the first refusal among its services, and which service. */
  refused: { reason: WithdrawReason; service: string } | null;
}

/** Each address of the announced services, with its services and whether it may be announced; by prefix. */
export function judge(s: Pick<RoutingState, "services" | "view" | "stopping">): Judgement[] {
  const byPrefix = new Map<string, Judgement>();
  for (const svc of s.services) {
    const prefix = prefixOf(svc.address);
    const j = byPrefix.get(prefix) ?? { prefix, services: [], refused: null };
    j.services.push(svc.name);
    const reason = refusal(s, svc.name, prefix);
    if (reason && !j.refused) j.refused = { reason, service: svc.name };
    byPrefix.set(prefix, j);
  }
  return [...byPrefix.values()].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

export const initialRouting = (): RoutingState => ({ services: [], view: null, stopping: false, announced: [] });

function settle(before: RoutingState, next: Omit<RoutingState, "announced">): { state: RoutingState; effects: RoutingEffect[] } {
  const judged = judge(next);
  const announced = judged.filter((j) => !j.refused).map((j) => j.prefix);
  const was = new Set(before.announced);
  const effects: RoutingEffect[] = [];
  for (const j of judged) {
    if (!j.refused && !was.has(j.prefix)) effects.push({ type: "event", event: "routing.announce", data: { prefix: j.prefix, services: j.services } });
    if (j.refused && was.has(j.prefix)) effects.push({ type: "event", event: "routing.withdraw", data: { prefix: j.prefix, services: j.services, reason: j.refused.reason, service: j.refused.service } });
  }
  for (const p of before.announced) if (!judged.some((j) => j.prefix === p)) effects.push({ type: "event", event: "routing.withdraw", data: { prefix: p, services: [], reason: "removed" } });
  if (announced.length !== was.size || announced.some((p) => !was.has(p))) effects.unshift({ type: "announce", prefixes: announced });
  return { state: { ...next, announced }, effects };
}

export function step(s: RoutingState, input: RoutingInput): { state: RoutingState; effects: RoutingEffect[] } {
  switch (input.type) {
    case "start":
      return settle(s, { services: input.services, view: s.view, stopping: false });
    case "reload":
      return settle(s, { services: input.services, view: s.view, stopping: s.stopping });
    case "observe":
      return settle(s, { services: s.services, view: input.view, stopping: s.stopping });
    case "stop":
      return settle(s, { services: s.services, view: s.view, stopping: true });
  }
}
