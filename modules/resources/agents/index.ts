/**
 * The agent a resource's `agent` string names, built from its params. Throws a
 * RangeError, naming the resource, for params its kind cannot take; `tandem
 * check` and the daemon's start both go through here.
 */
import type { Agent } from "../../../core/agent.ts";
import { createAddressAgent } from "./address.ts";
import { ExecAgent } from "./exec.ts";
import { LsbAgent } from "./lsb.ts";
import { OcfAgent } from "./ocf.ts";
import { SystemdAgent } from "./systemd.ts";
import { ModuleAgent } from "./module.ts";
import { Services } from "../../../core/cluster.ts";
import type { AgentKind } from "../../../core/config/schema.ts";

/** What an agent is built from: a resource's name, agent string and params (config.ts AgentSpec). */
export interface AgentSpec {
  name: string;
  agent: string;
  params: Readonly<Record<string, string | number | boolean | string[]>>;
}

/** An agent the executor can also close (one holding timers, as the address agent's renewals). */
export interface ManagedAgent extends Agent {
  close?(): void;
}

function argv(r: AgentSpec, verb: string): string[] {
  const v = r.params[verb];
  if (!Array.isArray(v)) throw new RangeError(`resource ${r.name}: exec needs params.${verb} as an argv array`);
  return v;
}

/** OCF parameters are environment strings: numbers and booleans are written out, lists refused. */
function ocfParams(r: AgentSpec): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.params)) {
    if (Array.isArray(v)) throw new RangeError(`resource ${r.name}: OCF parameter ${k} must be a string, number or boolean, not a list`);
    out[k] = String(v);
  }
  return out;
}

/** A module kind's params: strings, each it takes given, no other (checked when the kind is known). */
function moduleParams(r: AgentSpec, kind: string, known: AgentKind | undefined): Record<string, string> {
  const takes = known?.params ?? [];
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.params)) {
    if (known && !takes.includes(k)) throw new RangeError(`resource ${r.name}: the ${kind} resource takes ${takes.length ? `only ${takes.join(", ")}` : `no params (its config is [${kind}])`}, not ${k}`);
    if (typeof v !== "string") throw new RangeError(`resource ${r.name}: ${kind} parameter ${k} must be a string`);
    out[k] = v;
  }
  const missing = takes.filter((k) => out[k] === undefined);
  if (missing.length) throw new RangeError(`resource ${r.name}: the ${kind} resource needs params ${missing.join(", ")}`);
  return out;
}

/**
 * `services` is where agents of a module's kind find their module (absent: a
 * config check, which runs nothing); `kinds`, the modules' kinds, whose params
 * are checked when given (the config check gives them).
 */
export function createAgent(r: AgentSpec, services?: Services, kinds?: readonly AgentKind[]): ManagedAgent {
  const [kind = "", a, b] = r.agent.split(":");
  switch (kind) {
    case "address":
      return createAddressAgent(r.name, r.params);
    case "ocf":
      return new OcfAgent({ provider: a!, type: b!, instance: r.name, params: ocfParams(r) });
    case "lsb":
      if (Object.keys(r.params).length) throw new RangeError(`resource ${r.name}: an LSB script takes no params`);
      return new LsbAgent({ service: a! });
    case "systemd":
      if (Object.keys(r.params).length) throw new RangeError(`resource ${r.name}: a systemd unit takes no params`);
      return new SystemdAgent({ unit: r.agent.slice("systemd:".length) });
    case "exec":
      return new ExecAgent({ name: r.name, start: argv(r, "start"), stop: argv(r, "stop"), monitor: argv(r, "monitor") });
    default:
      // The schema lets through only the kinds the modules register (config.ts agentPattern).
      if (a !== undefined) throw new RangeError(`resource ${r.name}: no agent kind "${r.agent}"`);
      return new ModuleAgent(kind, services ?? new Services(), { name: r.name, params: moduleParams(r, kind, kinds?.find((k) => k.kind === kind)) });
  }
}
