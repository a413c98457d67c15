/**
 * The kinds of fence device, each a process run once per fence: what it is
 * given (argv, environment, stdin) and which of the device's `params` it
 * reads. Exit 0 is "fenced" for every kind.
 */
import { isAbsolute, join } from "node:path";
import { describeValue } from "../../../core/config/problems.ts";
import { labNameProblem } from "../../../core/lab-name.ts";
import { describeFileProblem, readSecretFile } from "../../../core/secret-file.ts";
import { AGENT_PATH } from "../agents/ocf.ts";
import type { ProcessSpec } from "../../../core/os/process.ts";
import type { FenceAction } from "./device.ts";

export type ParamValue = string | string[] | number | boolean;
export type Params = Readonly<Record<string, ParamValue>>;

export interface FenceCommand {
  /** The process that fences `node`; `port` is its name, or its value in the device's host_map. */
  fence(node: string, port: string): ProcessSpec;
  /** The process that checks the device without fencing anything, for kinds that have one. */
  check?(): ProcessSpec;
}

/** Where fence-agents installs its agents (Debian's and Red Hat's fence-agents packages). */
export const FENCE_AGENT_DIR = "/usr/sbin";
export const FENCE_AGENT_PATTERN = /^fence_[a-z0-9_]+$/;
/** The arguments Tandem writes itself: the action and the target (`option` is fence-agents' old name for action). */
const RESERVED_FENCE_AGENT_KEYS: readonly string[] = ["action", "option", "plug", "port", "nodename"];
/** The params that hold a fence agent's password: fence-agents' `password` and its old name `passwd`. */
const PASSWORD_KEYS: readonly string[] = ["password", "passwd"];
/** An argument name on a fence agent's stdin: no space, no '=', not a '#' comment. */
const FENCE_AGENT_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** A value that fits on one line of stdin (and in an argv word). */
const ONE_LINE = /^[^\x00-\x1f\x7f]*$/;

const BASE_ENV = { PATH: AGENT_PATH, LANG: "C" } as const;

export function refuse(device: string, what: string): never {
  throw new RangeError(`fence device "${device}": ${what}`);
}

function onlyParams(device: string, kind: string, params: Params, allowed: readonly string[]): void {
  for (const key of Object.keys(params)) {
    if (!allowed.includes(key)) refuse(device, `params.${key}: ${kind} devices take only ${allowed.map((k) => `params.${k}`).join(", ")}`);
  }
}

/**
 * `exec`: the operator's command (argv, no shell) with the node's port as its
 * last argument; TANDEM_FENCE_NODE and TANDEM_FENCE_ACTION in its environment.
 */
export function execCommand(device: string, params: Params, action: FenceAction): FenceCommand {
  onlyParams(device, "exec", params, ["command"]);
  const command = params.command;
  if (!Array.isArray(command) || !command[0]) {
    refuse(device, `params.command must be the command as an array of words, such as ["/usr/local/sbin/power-off", "--hard"]; found ${describeValue(command)}`);
  }
  return { fence: (node, port) => ({ argv: [...command, port], env: { ...BASE_ENV, TANDEM_FENCE_NODE: node, TANDEM_FENCE_ACTION: action } }) };
}

/**
 * `lab`: a power fault on a host of a `tandem lab` (every process of its
 * namespace killed, its links down), by this same program: `tandem lab fault
 * PORT power --name LAB`. Off only: the lab has no power-on but `heal`.
 */
export function labCommand(device: string, params: Params, action: FenceAction, program: readonly string[]): FenceCommand {
  onlyParams(device, "lab", params, ["lab"]);
  const lab = params.lab;
  if (typeof lab !== "string") refuse(device, `params.lab must be the lab's name; found ${describeValue(lab)}`);
  const problem = labNameProblem(lab);
  if (problem) refuse(device, `params.lab: ${problem}`);
  if (action !== "off") refuse(device, `a lab device powers a node off; it has no action "${action}"`);
  return { fence: (_node, port) => ({ argv: [...program, "lab", "fault", port, "power", "--name", lab], env: BASE_ENV }) };
}

/**
 * `fence_*`: an agent of the fence-agents convention, `FENCE_AGENT_DIR/AGENT`
 * (or `params.path`), its arguments as `key=value` lines on stdin: the
 * action, `plug` (the port) and `nodename`, then every other param. A true
 * boolean is written `1`, a false one is left out (fence-agents' library takes
 * a flag's presence as on, whatever its value).
 */
export function fenceAgentCommand(device: string, agent: string, params: Params, action: FenceAction, passwordFile?: string): FenceCommand {
  const { path, ...rest } = params;
  const inline = PASSWORD_KEYS.find((k) => k in rest);
  if (passwordFile !== undefined && inline) refuse(device, `params.${inline} and password_file both give the password: keep one (password_file keeps it out of the config)`);
  if (path !== undefined && (typeof path !== "string" || !isAbsolute(path))) refuse(device, `params.path must be the agent's absolute path; found ${describeValue(path)}`);
  const lines: string[] = [];
  for (const [key, value] of Object.entries(rest)) {
    if (RESERVED_FENCE_AGENT_KEYS.includes(key)) {
      refuse(device, `params.${key} is written by Tandem: ${key === "action" || key === "option" ? "set the device's action" : "map a node to its port with host_map"}`);
    }
    if (!FENCE_AGENT_KEY.test(key)) refuse(device, `params.${key}: an agent's argument name is letters, digits, '_', '.' and '-', starting with a letter, digit or '_'`);
    if (Array.isArray(value)) refuse(device, `params.${key}: a fence agent takes one value per argument, not an array`);
    if (value === false) continue;
    const text = value === true ? "1" : String(value);
    if (!ONE_LINE.test(text)) refuse(device, `params.${key}: a value must fit on one line (no control characters)`);
    lines.push(`${key}=${text}`);
  }
  const argv = [typeof path === "string" ? path : join(FENCE_AGENT_DIR, agent)];
  const stdin = (first: string[]) => [...first, ...lines, ...(passwordFile !== undefined ? [`password=${readPassword(passwordFile)}`] : []), ""].join("\n");
  return {
    fence: (node, port) => ({ argv, env: BASE_ENV, stdin: stdin([`action=${action}`, `plug=${port}`, `nodename=${node}`]) }),
    check: () => ({ argv, env: BASE_ENV, stdin: stdin(["action=monitor"]) }),
  };
}

/**
 * A device's password_file, read at each use (a changed password needs no
 * reload) and trusted as the key file is (core/secret-file.ts); its one line,
 * without the line end. Throws an Error saying what is wrong.
 */
function readPassword(file: string): string {
  const read = readSecretFile(file);
  if ("problem" in read) throw new Error(`password_file: ${describeFileProblem(read.problem)}`);
  const password = read.text.replace(/\r?\n$/, "");
  if (!ONE_LINE.test(password)) throw new Error(`password_file: ${file} holds more than one line`);
  return password;
}

/** A host_map value: a port that fits in an argv word and on a line of stdin. */
export function portProblem(port: unknown): string | undefined {
  if (typeof port !== "string" || port === "") return `must be a port name (a non-empty string); found ${describeValue(port)}`;
  if (port.startsWith("-")) return `must not begin with '-' (on a command line it would be read as an option); found ${describeValue(port)}`;
  return ONE_LINE.test(port) ? undefined : "must fit on one line (no control characters)";
}
