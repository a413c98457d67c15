/**
 * The admin API under /v1/resources/: status, and the commands `tandem
 * standby|online|move|clear|cleanup|disable|enable|maintenance` send. A command is accepted by this node
 * and spreads to the others in its report (the newest admin state wins); the
 * DC acts on it. Unknown nodes, groups and resources are 404s, a bad `for`
 * duration a 400, all as problem+json.
 */
import { parseDuration } from "../../core/duration.ts";
import type { Config } from "../../core/config/load.ts";
import type { RouteSpec } from "../../core/api/routes.ts";
import { problem } from "../../core/api/problem.ts";
import { groupsOf } from "./config.ts";
import type { AdminCommand, State } from "./engine.ts";

export interface AdminHost {
  config(): Config;
  state(): State;
  status(): Record<string, unknown>;
  admin(command: AdminCommand): void;
}

const ACCEPTED = { 202: "accepted: this node took the command and passes it on", 401: "no or wrong token", 403: "no token file configured" };

export function adminRoutes(host: AdminHost): RouteSpec[] {
  const members = () => host.config().nodes.filter((n) => n.roles.includes("member")).map((n) => n.name);
  const groups = () => groupsOf(host.config().raw.resources!).map((g) => g.name);
  const resources = () => host.config().raw.resources!.resource.map((r) => r.name);
  const unknown = (what: string, name: string, known: string[]) => problem(404, `no ${what} named "${name}"`, { known });
  const accept = (command: AdminCommand) => {
    host.admin(command);
    return Response.json({ accepted: command }, { status: 202 });
  };
  const namedKnown = () => [...groups(), ...resources().filter((r) => !groups().includes(r))];
  const named = (name: string) => namedKnown().includes(name);
  /** POST /OP/{param}: the command on one known name, else a 404 with the names known. */
  const oneName = (op: string, param: string, what: string, known: () => string[], summary: string, command: (name: string) => AdminCommand): RouteSpec => ({
    method: "post",
    path: `/${op}/{${param}}`,
    summary,
    mutating: true,
    produces: "application/json",
    responses: { ...ACCEPTED, 404: `no such ${what}` },
    handler: (_c, p) => (known().includes(p[param]!) ? accept(command(p[param]!)) : unknown(what, p[param]!, known())),
  });
  const nameCommand = (op: "disable" | "enable", summary: string) => oneName(op, "name", "group or resource", namedKnown, summary, (name) => ({ op, name }));
  const nodeCommand = (op: "standby" | "online", summary: string) => oneName(op, "node", "member node", members, summary, (node) => ({ op, node }));
  return [
    {
      method: "get",
      path: "/",
      summary: "groups and where they run, every resource's state on every node, operations in flight, failures, moves, standby nodes, the DC and the policy's notes",
      produces: "application/json",
      responses: { 200: "status" },
      handler: () => Response.json(host.status()),
    },
    nodeCommand("standby", "put a node in standby: its groups move away and nothing starts there"),
    nodeCommand("online", "end a node's standby"),
    {
      method: "post",
      path: "/move/{group}/{node}",
      summary: "move a group to a node (?for=DURATION: the move expires then); it stays in force, shown in status, until it expires or is cleared",
      mutating: true,
      produces: "application/json",
      responses: { ...ACCEPTED, 400: "bad duration in ?for", 404: "no such group or member node" },
      handler: (c, p) => {
        if (!groups().includes(p.group!)) return unknown("group", p.group!, groups());
        if (!members().includes(p.node!)) return unknown("member node", p.node!, members());
        const text = c.req.query("for");
        let until: number | null = null;
        if (text !== undefined) {
          const ms = parseDuration(text);
          if (ms === undefined || ms <= 0) return problem(400, `for=${text} is not a duration above zero (150ms, 2s, 10m, 1h)`);
          until = Date.now() + ms;
        }
        return accept({ op: "move", group: p.group!, node: p.node!, until });
      },
    },
    {
      method: "post",
      path: "/clear/{group}",
      summary: "remove a group's move: it is placed by its scores again",
      mutating: true,
      produces: "application/json",
      responses: { ...ACCEPTED, 404: "no such group" },
      handler: (_c, p) => (groups().includes(p.group!) ? accept({ op: "clear", group: p.group! }) : unknown("group", p.group!, groups())),
    },
    nameCommand("disable", "disable a group or resource (Pacemaker's target-role=Stopped): it stops and starts nowhere until enabled; a group member stops with the members after it"),
    nameCommand("enable", "end a group's or resource's disable"),
    {
      method: "post",
      path: "/maintenance/{state}",
      summary:
        "maintenance on or off: of the whole cluster, or of one node (?node=NAME) or one group or resource (?resource=NAME); the manager starts, stops and fences nothing there, monitors still report",
      mutating: true,
      produces: "application/json",
      responses: { ...ACCEPTED, 400: "state is not on or off, or both node and resource given", 404: "no such member node, group or resource" },
      handler: (c, p) => {
        if (p.state !== "on" && p.state !== "off") return problem(400, `maintenance/${p.state}: expected on or off`);
        const node = c.req.query("node");
        const resource = c.req.query("resource");
        if (node !== undefined && resource !== undefined) return problem(400, "maintenance of a node or of a resource, not both at once");
        if (node !== undefined && !members().includes(node)) return unknown("member node", node, members());
        if (resource !== undefined && !named(resource)) return unknown("group or resource", resource, namedKnown());
        return accept({ op: "maintenance", on: p.state === "on", ...(node !== undefined ? { node } : {}), ...(resource !== undefined ? { resource } : {}) });
      },
    },
    {
      method: "post",
      path: "/cleanup/{resource}",
      summary: "forget a resource's failures on every node and probe its state again",
      mutating: true,
      produces: "application/json",
      responses: { ...ACCEPTED, 404: "no such resource" },
      handler: (_c, p) => (resources().includes(p.resource!) ? accept({ op: "cleanup", resource: p.resource! }) : unknown("resource", p.resource!, resources())),
    },
  ];
}
