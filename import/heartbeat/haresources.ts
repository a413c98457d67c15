/**
 * haresources as Heartbeat's ResourceManager read it: `#` to the end of a line
 * is a comment, a line ending in `\` goes on on the next, each line is the
 * preferred node (any case) and its resources, started left to right.
 * A resource is an IPv4 address (IPaddr implied), `SCRIPT::ARG::ARG`, or a
 * bare SCRIPT; Heartbeat looked for SCRIPT in /etc/ha.d/resource.d, then in
 * /etc/init.d.
 */
import { at, type Finding } from "../findings.ts";
import { mapScript, RESOURCE_D, type Mapped } from "./scripts.ts";

export interface Token {
  text: string;
  line: number;
}

export interface HaLine {
  line: number;
  node: Token;
  resources: Token[];
}

/** Heartbeat's test for an address (its isip): a digit first and three dots, each followed by a digit. */
const ISIP = /^[0-9].*\.[0-9].*\.[0-9].*\.[0-9].*$/;

const SCRIPT = /^(?!\.)[A-Za-z0-9_.@-]+$/;

export function parseHaresources(file: string, text: string, findings: Finding[]): HaLine[] {
  const out: HaLine[] = [];
  let pending: { line: number; tokens: Token[] } | undefined;
  const finish = () => {
    if (!pending?.tokens.length) return;
    const [node, ...resources] = pending.tokens as [Token, ...Token[]];
    if (node.text.includes("::") || ISIP.test(node.text)) findings.push({ level: "error", where: at(file, pending.line), message: `the line starts with the resource "${node.text}"; it must start with the preferred node's name` });
    else if (!resources.length) findings.push({ level: "error", where: at(file, pending.line), message: `node "${node.text}" with no resources: a line names a node and the resources it runs` });
    else out.push({ line: pending.line, node, resources });
  };
  text.split(/\r?\n/).forEach((raw, i) => {
    const body = raw.replace(/#.*/, "");
    const continued = /\\\s*$/.exec(body);
    const words = (continued ? body.slice(0, continued.index) : body).trim().split(/\s+/).filter(Boolean);
    if (!pending && !words.length) return;
    pending ??= { line: i + 1, tokens: [] };
    pending.tokens.push(...words.map((w) => ({ text: w, line: i + 1 })));
    if (!continued) {
      finish();
      pending = undefined;
    }
  });
  finish();
  return out;
}

export type Outcome = { kind: "resource"; mapped: Mapped } | { kind: "skipped"; message: string } | { kind: "error"; message: string };

/** What Tandem runs for one haresources resource. */
export function resourceOf(token: string): Outcome {
  const [script, ...args] = (ISIP.test(token) ? `IPaddr::${token}` : token).split("::") as [string, ...string[]];
  if (!SCRIPT.test(script)) return { kind: "error", message: `"${script}" is not a resource script's name (letters, digits, '_', '.', '@', '-')` };
  if (args.some((a) => a === "")) return { kind: "error", message: `"${token}" has an empty argument` };
  if (script === "drbddisk")
    return {
      kind: "skipped",
      message: `${token} is not imported: replication is a separate Tandem module, not available yet, and resource-agents has no agent for what drbddisk did; until then, DRBD resource ${args[0] ?? "all"} must be made primary by other means before the resources after it start`,
    };
  if (script === "LVSSyncDaemonSwap")
    return {
      kind: "skipped",
      message: `${token} is not imported: it started IPVS's connection sync daemon (master or backup) with the group; Tandem's director runs connection sync itself ([director.sync])`,
    };
  if (script === "ldirectord") {
    const cf = args[0] === undefined ? "/etc/ha.d/ldirectord.cf" : args[0].startsWith("/") ? args[0] : `/etc/ha.d/${args[0]}`;
    return {
      kind: "resource",
      mapped: {
        agent: "director",
        params: {},
        advised: {},
        name: "director",
        symmetrical: false,
        comments: [`ldirectord: Tandem's director checks the real servers and programs the virtual services; \`tandem import ldirectord ${cf}\` writes its [[services]] and [director] sections, to append to this config`],
        todos: [],
      },
    };
  }
  const mapped = mapScript(script, args);
  if (mapped) return "error" in mapped ? { kind: "error", message: mapped.error } : { kind: "resource", mapped };
  const name = script.toLowerCase();
  if (!args.length)
    return { kind: "resource", mapped: { agent: `lsb:${script}`, params: {}, advised: {}, name, comments: [`Heartbeat ran ${RESOURCE_D}/${script} if there was one, else this init script (systemd:${script} where only a unit is left)`], todos: [] } };
  const argv = (verb: string) => [`${RESOURCE_D}/${script}`, ...args, verb];
  return {
    kind: "resource",
    mapped: {
      agent: "exec",
      params: { start: argv("start"), stop: argv("stop"), monitor: argv("status") },
      advised: {},
      name,
      comments: [
        `the script as Heartbeat ran it. CHECK its status: Heartbeat read what it printed ("running" or "OK"),`,
        "Tandem's exec monitor reads its exit code: 0 running, 7 stopped, anything else failed",
      ],
      todos: [],
    },
  };
}
