/**
 * Heartbeat's own resource scripts (/etc/ha.d/resource.d, shipped with
 * Heartbeat 3.0) as Tandem resources. Each of those scripts took its `::`
 * arguments by position and ran the OCF agent of the same name from
 * resource-agents with them as OCF_RESKEY_ parameters; this table holds the
 * same positions, so the import runs the same agent with the same parameters
 * and no longer needs Heartbeat installed. Every agent named here is in
 * Debian's resource-agents (4.12), and the advised timeouts are that version's
 * meta-data. IPaddr and IPaddr2 become Tandem's own `address` agent.
 */
import { formatIpv4, networkOf, parseIpv4 } from "../../core/os/ip.ts";
import { IFNAMSIZ, labelProblem } from "../../core/os/netlink.ts";
import { interfaceProblem } from "../../modules/resources/agents/address.ts";
import { table } from "../table.ts";

/** Where Heartbeat looked for a resource's script first (then /etc/init.d). */
export const RESOURCE_D = "/etc/ha.d/resource.d";

/** A haresources resource as Tandem runs it. */
export interface Mapped {
  agent: string;
  params: Record<string, string | string[]>;
  /** The agent's advised timeouts in seconds (its meta-data), where they exceed Tandem's defaults. */
  advised: Partial<Record<"start" | "stop" | "monitor", number>>;
  /** The name the resource is given (made valid and unique later). */
  name: string;
  /** Comments for the resource: what was assumed, what was left out. */
  comments: string[];
  /** Values the files do not give: comments saying what to fill in; the params hold a placeholder. */
  todos: string[];
  /** false: a one-way order in its group (`symmetrical = false`): the members before it stop without waiting for its stop. */
  symmetrical?: false;
  /** An address with no interface: the address and prefix whose route Heartbeat took the interface from. */
  route?: { address: string; prefixLength: number };
}

export type MapResult = Mapped | { error: string };

/** Positional arguments of one script: their OCF names, how many it needs, its advised timeouts. */
interface Positional {
  params: readonly string[];
  required: number;
  advised?: Mapped["advised"];
  /** Defaults the script set itself when an argument was absent. */
  defaults?: Record<string, string>;
  name?: (params: Record<string, string>) => string;
}

const POSITIONAL: Readonly<Record<string, Positional>> = table({
  Filesystem: { params: ["device", "directory", "fstype", "options"], required: 2, advised: { start: 60, stop: 60, monitor: 40 }, name: (p) => `fs-${p.directory === "/" ? "root" : p.directory}` },
  MailTo: { params: ["email", "subject"], required: 1 },
  IPsrcaddr: { params: ["ipaddress"], required: 1 },
  apache: { params: ["configfile"], required: 0, advised: { start: 40, stop: 60 } },
  ICP: { params: ["driveid", "device"], required: 2 },
  LVM: { params: ["volgrpname"], required: 1, advised: { start: 30, stop: 30, monitor: 30 }, name: (p) => `lvm-${p.volgrpname}` },
  LinuxSCSI: { params: ["scsi"], required: 1 },
  Raid1: { params: ["raidconf", "raiddev"], required: 2 },
  ServeRAID: { params: ["serveraid", "mergegroup"], required: 2, advised: { start: 40, stop: 40 } },
  WinPopup: { params: ["hostfile"], required: 0, advised: { start: 30 }, defaults: { hostfile: "hosts" } },
  Xinetd: { params: ["service"], required: 1, name: (p) => `xinetd-${p.service}` },
  db2: { params: ["instance"], required: 1, advised: { start: 120, stop: 120, monitor: 60 } },
  portblock: { params: ["protocol", "portno", "action"], required: 3, name: (p) => `portblock-${p.portno}` },
});

/** The scripts whose arguments need more than positions. */
const SPECIAL: Readonly<Record<string, (args: string[]) => MapResult>> = table({
  IPaddr: (args) => address("IPaddr", args),
  IPaddr2: (args) => address("IPaddr2", args),
  IPv6addr: ipv6,
  SendArp: sendArp,
  Delay: delay,
  WAS: was,
  AudibleAlarm: (args) => ocf("AudibleAlarm", args.length ? { nodelist: args.join(" ") } : {}, {}, "audiblealarm"),
});

/** The Heartbeat scripts that become the OCF agent of the same name (IPaddr and IPaddr2 become `address`), for the command's help. */
export const OCF_SCRIPTS = [...Object.keys(SPECIAL), ...Object.keys(POSITIONAL)].filter((s) => !s.startsWith("IPaddr")).sort((a, b) => a.localeCompare(b));

/** The Tandem resource for Heartbeat's script NAME with ARGS, or undefined when NAME is not one of Heartbeat's. */
export function mapScript(name: string, args: string[]): MapResult | undefined {
  const special = SPECIAL[name];
  if (special) return special(args);
  const spec = POSITIONAL[name];
  if (!spec) return undefined;
  if (args.length < spec.required || args.length > spec.params.length) {
    const usage = spec.params.map((p, i) => (i < spec.required ? p.toUpperCase() : `[${p.toUpperCase()}]`)).join("::");
    return { error: `${name} takes ${spec.required === spec.params.length ? spec.required : `${spec.required} to ${spec.params.length}`} argument${spec.params.length === 1 ? "" : "s"} (${name}${usage ? `::${usage}` : ""}), found ${args.length}` };
  }
  const params: Record<string, string> = { ...spec.defaults };
  args.forEach((a, i) => (params[spec.params[i]!] = a));
  return ocf(name, params, spec.advised ?? {}, spec.name ? spec.name(params) : name.toLowerCase());
}

function ocf(type: string, params: Record<string, string>, advised: Mapped["advised"], name: string): Mapped {
  return { agent: `ocf:heartbeat:${type}`, params, advised, name, comments: [`Heartbeat's ${RESOURCE_D}/${type} ran this agent with these parameters`], todos: [] };
}

/** When haresources gives no prefix, Heartbeat took the netmask of the route to the address; this one is assumed. */
const ASSUMED_PREFIX = 24;

function prefixOf(mask: string): number | undefined {
  if (/^\d{1,2}$/.test(mask)) return Number(mask) <= 32 ? Number(mask) : undefined;
  const value = parseIpv4(mask);
  if (value === undefined) return undefined;
  const ones = /^(1*)0*$/.exec(value.toString(2).padStart(32, "0"));
  return ones ? ones[1]!.length : undefined;
}

function broadcastOf(ip: number, prefix: number): string {
  return formatIpv4(networkOf(ip, prefix) + 2 ** (32 - prefix) - 1);
}

/**
 * IPaddr and IPaddr2: ADDRESS[/PREFIX[/INTERFACE[:LABEL][/BROADCAST]]], or
 * ADDRESS/PREFIX/BROADCAST (a third field starting with a digit is the
 * broadcast), as Heartbeat's scripts split it. The prefix may be a dotted mask.
 */
function address(script: string, args: string[]): MapResult {
  const usage = `${script}::ADDRESS[/PREFIX[/INTERFACE[/BROADCAST]]]`;
  if (args.length !== 1) return { error: `${script} takes one argument (${usage}), found ${args.length}` };
  const fields = args[0]!.split("/");
  const [ip, mask, third, fourth] = fields;
  if (fields.length > 4 || fields.some((f) => f === "")) return { error: `"${args[0]}" is not ${usage}` };
  const value = parseIpv4(ip!);
  if (value === undefined) return { error: `"${ip}" is not an IPv4 address (${usage})` };
  const comments: string[] = [];
  const todos: string[] = [];
  let prefix = ASSUMED_PREFIX;
  if (mask === undefined) comments.push(`CHECK the prefix: haresources gives none for ${ip}, and Heartbeat took the netmask of the route to it; /${ASSUMED_PREFIX} is assumed`);
  else {
    const p = prefixOf(mask);
    if (p === undefined) return { error: `"${mask}" is not a prefix length or netmask (${usage})` };
    prefix = p;
  }
  const digit = third !== undefined && /^\d/.test(third);
  if (digit && fourth !== undefined) return { error: `"${args[0]}" is not ${usage}` };
  const broadcast = digit ? third : fourth;
  const [nic, label] = digit || third === undefined ? [undefined, undefined] : third.split(":", 2);
  const nicProblem = nic === undefined ? undefined : interfaceProblem(nic);
  if (nicProblem) return { error: `${nicProblem} (${usage})` };
  const fullLabel = label === undefined ? undefined : `${nic}:${label}`;
  const labelTooLong = fullLabel !== undefined && labelProblem(fullLabel, 4) !== undefined;
  if (labelTooLong) comments.push(`the label "${fullLabel}" is not imported: a label is at most ${IFNAMSIZ - 1} bytes`);
  if (broadcast !== undefined) {
    if (parseIpv4(broadcast) === undefined) return { error: `"${broadcast}" is not an IPv4 broadcast address (${usage})` };
    const own = broadcastOf(value, prefix);
    if (broadcast !== own) comments.push(`the broadcast address ${broadcast} is not imported: the address agent gives an address its subnet's, ${own}`);
  }
  if (nic === undefined) todos.push(`set interface: haresources names none for ${ip}, and Heartbeat used the interface of the route to it`);
  return {
    agent: "address",
    params: { address: `${ip}/${prefix}`, interface: nic ?? `TODO: the interface for ${ip}`, ...(fullLabel !== undefined && !labelTooLong ? { label: fullLabel } : {}) },
    advised: {},
    name: `ip-${ip}`,
    comments,
    todos,
    ...(nic === undefined ? { route: { address: ip!, prefixLength: prefix } } : {}),
  };
}

/** IPv6addr: ADDRESS[/PREFIX[/INTERFACE]]. */
function ipv6(args: string[]): MapResult {
  const usage = "IPv6addr::ADDRESS[/PREFIX[/INTERFACE]]";
  if (args.length !== 1) return { error: `IPv6addr takes one argument (${usage}), found ${args.length}: haresources splits at every "::", so write the address in full` };
  const fields = args[0]!.split("/");
  const [ip, prefix, nic] = fields;
  if (fields.length > 3 || fields.some((f) => f === "") || !ip!.includes(":")) return { error: `"${args[0]}" is not ${usage}` };
  if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= 128)) return { error: `"${prefix}" is not an IPv6 prefix length (${usage})` };
  const nicProblem = nic === undefined ? undefined : interfaceProblem(nic);
  if (nicProblem) return { error: `${nicProblem} (${usage})` };
  const params: Record<string, string> = { ipv6addr: ip! };
  if (prefix !== undefined) params.cidr_netmask = prefix;
  if (nic !== undefined) params.nic = nic;
  return ocf("IPv6addr", params, {}, `ip6-${ip}`);
}

/** SendArp: ADDRESS/INTERFACE. */
function sendArp(args: string[]): MapResult {
  const usage = "SendArp::ADDRESS/INTERFACE";
  const fields = args.length === 1 ? args[0]!.split("/") : [];
  const [ip, nic] = fields;
  if (fields.length !== 2 || parseIpv4(ip!) === undefined || interfaceProblem(nic!) !== undefined) return { error: `SendArp takes one argument ${usage}, found ${args.join("::") || "none"}` };
  return ocf("SendArp", { ip: ip!, nic: nic! }, {}, `sendarp-${ip}`);
}

/**
 * Delay: [STARTDELAY[::STOPDELAY]] in seconds; Heartbeat's script made the
 * start delay 10 when absent, and the agent's stop and monitor delays default
 * to the start delay. The agent sleeps that long in start, stop and monitor,
 * so each timeout is the advised 30 s or the delay and 10 s more.
 */
function delay(args: string[]): MapResult {
  if (args.length > 2) return { error: `Delay takes 0 to 2 arguments (Delay[::STARTDELAY[::STOPDELAY]]), found ${args.length}` };
  if (args.some((a) => !/^\d+(\.\d+)?$/.test(a))) return { error: `Delay's arguments are seconds, found ${args.join("::")}` };
  const [start = "10", stop = start] = args;
  const params: Record<string, string> = { startdelay: start };
  if (args.length === 2) params.stopdelay = stop;
  const bound = (s: string) => Math.max(30, Math.ceil(Number(s)) + 10);
  return ocf("Delay", params, { start: bound(start), stop: bound(stop), monitor: bound(start) }, "delay");
}

/** WAS: [CONFIG-FILE | PORT]; Heartbeat's script took a number as the port. */
function was(args: string[]): MapResult {
  if (args.length > 1) return { error: `WAS takes 0 or 1 argument (WAS[::CONFIG-FILE|PORT]), found ${args.length}` };
  const params: Record<string, string> = args.length ? { [/^\d+$/.test(args[0]!) ? "port" : "config"]: args[0]! } : {};
  return ocf("WAS", params, { start: 300, stop: 300, monitor: 30 }, "was");
}
