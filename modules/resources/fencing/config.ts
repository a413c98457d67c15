/**
 * From a device's table in the config to a fence device: the checks (a bad
 * definition is a RangeError that names the device and the key), and the
 * device itself, one process per fence through the agents' process runner.
 */
import { isAbsolute } from "node:path";
import { parseDuration } from "../../../core/duration.ts";
import { NAME_PATTERN } from "../../../core/config/primitives.ts";
import { describeValue, didYouMean } from "../../../core/config/problems.ts";
import type { AgentStatus } from "../../../core/agent.ts";
import { runProcess, selfCommand, type ProcessSpec } from "../../../core/os/process.ts";
import { realClock, type Clock } from "../../../core/time.ts";
import { WatchdogFenceDevice } from "./watchdog.ts";
import type { CheckResult, FenceAction, FenceDevice, FenceOptions, FenceResult, FenceStatus } from "./device.ts";
import { execCommand, fenceAgentCommand, FENCE_AGENT_PATTERN, labCommand, portProblem, refuse, type FenceCommand, type ParamValue, type Params } from "./kinds.ts";

export const DEFAULT_FENCE_TIMEOUT = "60s";
/** The longest a single fence may take: a power cycle through a slow management board fits well within it. */
export const FENCE_TIMEOUT_MAX_MS = 30 * 60_000;

/** A device as the config writes it (`[[fencing.devices]]`, say), before it is checked. */
export interface FenceDeviceDef {
  name: string;
  /** "exec", "lab", or a fence-agents agent: "fence_ipmilan", "fence_virsh", ... */
  agent: string;
  params?: Record<string, ParamValue>;
  /** The nodes it can fence; empty or missing: every node but this one. */
  nodes?: string[];
  /** node -> port (the plug, VM or host name the device knows the node by), as Pacemaker's pcmk_host_map. */
  host_map?: Record<string, string>;
  action?: FenceAction;
  /** A duration with its unit; DEFAULT_FENCE_TIMEOUT when missing. */
  timeout?: string;
  /** fence_* agents: the absolute path of a file holding the password (mode 0600), instead of params.password. */
  password_file?: string;
}

export interface DeviceContext {
  /** This node's name: a device never fences the node it runs on. */
  self?: string;
  /** How to run this program again, for `lab` devices; selfCommand() when missing. */
  program?: readonly string[];
  /** What a `watchdog` device waits on; the real clock when missing. */
  clock?: Clock;
  /** This node's armed watchdog's timeout (the "watchdog" service), for `watchdog` devices; none when missing. */
  watchdogTimeoutMs?: () => number | undefined;
}

const DEF_KEYS: readonly string[] = ["name", "agent", "params", "nodes", "host_map", "action", "timeout", "password_file"];
const ACTIONS: readonly FenceAction[] = ["off", "reboot"];
const NAME_RE = new RegExp(NAME_PATTERN);

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isParamValue(v: unknown): v is ParamValue {
  if (Array.isArray(v)) return v.every((w) => typeof w === "string");
  return typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
}

function checkParams(device: string, params: unknown): Params {
  if (params === undefined) return {};
  if (!isTable(params)) refuse(device, `params must be a table; found ${describeValue(params)}`);
  for (const [key, value] of Object.entries(params)) {
    if (!isParamValue(value)) refuse(device, `params.${key} must be a string, a number, a boolean or an array of strings; found ${describeValue(value)}`);
  }
  return params as Params;
}

function checkNodes(device: string, nodes: unknown): string[] {
  if (nodes === undefined) return [];
  if (!Array.isArray(nodes)) refuse(device, `nodes must be an array of node names; found ${describeValue(nodes)}`);
  for (const node of nodes) {
    if (typeof node !== "string" || !NAME_RE.test(node)) refuse(device, `nodes: ${describeValue(node)} is not a node name`);
  }
  return nodes as string[];
}

function checkHostMap(device: string, hostMap: unknown, nodes: readonly string[]): Map<string, string> {
  if (hostMap === undefined) return new Map();
  if (!isTable(hostMap)) refuse(device, `host_map must be a table of node = "port"; found ${describeValue(hostMap)}`);
  for (const [node, port] of Object.entries(hostMap)) {
    if (!NAME_RE.test(node)) refuse(device, `host_map.${node}: not a node name`);
    if (nodes.length && !nodes.includes(node)) refuse(device, `host_map.${node}: ${node} is not one of the device's nodes (${nodes.join(", ")})`);
    const problem = portProblem(port);
    if (problem) refuse(device, `host_map.${node} ${problem}`);
  }
  return new Map(Object.entries(hostMap as Record<string, string>));
}

function checkTimeout(device: string, timeout: unknown): number {
  const ms = typeof timeout === "string" ? parseDuration(timeout) : undefined;
  if (ms === undefined) refuse(device, `timeout must be a duration with its unit, such as "60s"; found ${describeValue(timeout)}`);
  if (ms <= 0 || ms > FENCE_TIMEOUT_MAX_MS) refuse(device, `timeout must be more than 0 and at most ${FENCE_TIMEOUT_MAX_MS / 60_000}m; found "${timeout}"`);
  return ms;
}

function checkPasswordFile(device: string, agent: unknown, file: unknown): string | undefined {
  if (file === undefined) return undefined;
  if (typeof file !== "string" || !isAbsolute(file)) refuse(device, `password_file must be an absolute path; found ${describeValue(file)}`);
  if (typeof agent !== "string" || !FENCE_AGENT_PATTERN.test(agent)) refuse(device, `password_file is for fence-agents devices (fence_*), which read a password; found agent ${describeValue(agent)}`);
  return file;
}

function commandOf(device: string, def: Record<string, unknown>, params: Params, action: FenceAction, context: DeviceContext): FenceCommand {
  const agent = def.agent;
  const passwordFile = checkPasswordFile(device, agent, def.password_file);
  if (agent === "exec") return execCommand(device, params, action);
  if (agent === "lab") return labCommand(device, params, action, context.program ?? selfCommand());
  if (typeof agent === "string" && FENCE_AGENT_PATTERN.test(agent)) return fenceAgentCommand(device, agent, params, action, passwordFile);
  return refuse(device, `unknown agent ${describeValue(agent)}: expected "exec", "lab", "watchdog" or a fence-agents agent named fence_* (such as "fence_ipmilan")`);
}

/** A device's table checked and made a device. Throws RangeError, naming the device and the key, for a bad one. */
export function createFenceDevice(def: unknown, context: DeviceContext = {}): FenceDevice {
  if (!isTable(def)) throw new RangeError(`a fence device must be a table; found ${describeValue(def)}`);
  const name = def.name;
  if (typeof name !== "string" || !NAME_RE.test(name)) throw new RangeError(`a fence device's name must match ${NAME_PATTERN}; found ${describeValue(name)}`);
  for (const key of Object.keys(def)) {
    if (DEF_KEYS.includes(key)) continue;
    const guess = didYouMean(key, DEF_KEYS);
    refuse(name, `unknown key "${key}"${guess ? ` (did you mean "${guess}"?)` : ""}; a device has ${DEF_KEYS.join(", ")}`);
  }
  const action = def.action ?? "off";
  if (!ACTIONS.includes(action as FenceAction)) refuse(name, `action must be "off" or "reboot"; found ${describeValue(action)}`);
  const params = checkParams(name, def.params);
  const nodes = checkNodes(name, def.nodes);
  if (def.agent === "watchdog") return watchdogDevice(name, def, params, nodes, context);
  const command = commandOf(name, def, params, action as FenceAction, context);
  return new CommandFenceDevice({
    name,
    kind: def.agent as string,
    action: action as FenceAction,
    timeoutMs: checkTimeout(name, def.timeout ?? DEFAULT_FENCE_TIMEOUT),
    nodes,
    hostMap: checkHostMap(name, def.host_map, nodes),
    self: context.self,
    command,
  });
}

/** `watchdog`: a silent peer counts as fenced after twice the watchdog timeout (fencing/watchdog.ts); no params, no host_map. */
function watchdogDevice(name: string, def: Record<string, unknown>, params: Params, nodes: string[], context: DeviceContext): FenceDevice {
  if (Object.keys(params).length) refuse(name, "a watchdog device takes no params: it waits on the [watchdog] section's timeout");
  if (def.host_map !== undefined) refuse(name, "a watchdog device has no host_map: it reaches no device");
  return new WatchdogFenceDevice({
    name,
    timeoutMs: checkTimeout(name, def.timeout ?? DEFAULT_FENCE_TIMEOUT),
    nodes,
    self: context.self,
    clock: context.clock ?? realClock,
    watchdogTimeoutMs: context.watchdogTimeoutMs ?? (() => undefined),
    isName: (node) => NAME_RE.test(node),
  });
}

interface DeviceSetup {
  name: string;
  kind: string;
  action: FenceAction;
  timeoutMs: number;
  nodes: readonly string[];
  hostMap: ReadonlyMap<string, string>;
  self: string | undefined;
  command: FenceCommand;
}

function fenceStatus(status: AgentStatus): FenceStatus {
  if (status === "ok") return "fenced";
  if (status === "failed" || status === "timeout" || status === "cancelled") return status;
  return "error";
}

const exitStatus = (what: string) => (exitCode: number) => (exitCode === 0 ? { status: "ok" as const } : { status: "failed" as const, message: `${what} exited ${exitCode}` });

class CommandFenceDevice implements FenceDevice {
  readonly name: string;
  readonly kind: string;
  readonly action: FenceAction;
  readonly timeoutMs: number;
  readonly check?: (options: FenceOptions) => Promise<CheckResult>;

  constructor(private readonly s: DeviceSetup) {
    this.name = s.name;
    this.kind = s.kind;
    this.action = s.action;
    this.timeoutMs = s.timeoutMs;
    const check = s.command.check;
    if (check) this.check = (options) => this.runCheck(check, options);
  }

  canFence(node: string): boolean {
    return NAME_RE.test(node) && node !== this.s.self && (!this.s.nodes.length || this.s.nodes.includes(node));
  }

  async fence(node: string, options: FenceOptions): Promise<FenceResult> {
    if (!this.canFence(node)) {
      return { node, device: this.name, status: "error", exitCode: null, durationMs: 0, output: "", message: `${this.name} cannot fence ${describeValue(node)}` };
    }
    let spec: ProcessSpec;
    try {
      spec = this.s.command.fence(node, this.s.hostMap.get(node) ?? node);
    } catch (e) {
      return { node, device: this.name, status: "error", exitCode: null, durationMs: 0, output: "", message: (e as Error).message };
    }
    const { result } = await runProcess(spec, options, exitStatus(this.action));
    return { node, device: this.name, status: fenceStatus(result.status), exitCode: result.exitCode, durationMs: result.durationMs, output: result.output, message: result.message };
  }

  private async runCheck(check: () => ProcessSpec, options: FenceOptions): Promise<CheckResult> {
    let spec: ProcessSpec;
    try {
      spec = check();
    } catch (e) {
      return { device: this.name, status: "error", exitCode: null, durationMs: 0, output: "", message: (e as Error).message };
    }
    const { result } = await runProcess(spec, options, exitStatus("monitor"));
    const status = fenceStatus(result.status);
    return { device: this.name, status: status === "fenced" ? "ok" : status, exitCode: result.exitCode, durationMs: result.durationMs, output: result.output, message: result.message };
  }
}
