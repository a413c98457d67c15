/**
 * The checkers: one function per check kind, `(target, check, signal)` to
 * an outcome, each bounded by the check's timeout and by the caller's
 * signal. They touch the world (sockets, processes); what an outcome means
 * for the server is the engine's business.
 */
import { parseDuration } from "../../core/duration.ts";
import { AGENT_PATH } from "../resources/agents/ocf.ts";
import { runProcess } from "../../core/os/process.ts";
import { checkOf, type CHECK_KINDS, type CheckRaw, type ServerRaw, type ServiceRaw } from "./config.ts";
import type { CheckFn, CheckOutcome, Target } from "./target.ts";
import { dnsCheck } from "./dns.ts";
import { httpCheck, httpsCheck } from "./http.ts";
import { converse, describeError, withTimeout } from "./socket.ts";

/** Between SIGTERM to a timed-out misc check's process group and SIGKILL (shorter than an agent's: a check holds a slot). */
const MISC_KILL_GRACE_MS = 1000;
/** How much of a misc check's output its message carries (the end of it). */
const MISC_MESSAGE_CHARS = 200;
/** The port a kind checks when neither the check, the server nor the service names one. */
const DEFAULT_PORTS: Partial<Record<CheckKind, number>> = { http: 80, https: 443, dns: 53 };

export type CheckKind = (typeof CHECK_KINDS)[number];

/** The check's port, else the server's, else the service's, else the kind's usual one. */
export function targetOf(service: ServiceRaw, server: ServerRaw): Target {
  const check = checkOf(service, server);
  return { address: server.address, port: check.port ?? server.port ?? service.port ?? DEFAULT_PORTS[check.kind] ?? null };
}

/** Connects and closes. */
async function tcpCheck(target: Target, check: CheckRaw, signal: AbortSignal): Promise<CheckOutcome> {
  if (target.port === null) return { ok: false, message: "no port to check" };
  const bound = withTimeout(signal, parseDuration(check.timeout)!);
  const error = await converse({ address: target.address, port: target.port }, bound.signal);
  bound.clear();
  if (bound.signal.aborted) return { ok: false, message: bound.why() };
  return error === null ? { ok: true, message: "connected" } : { ok: false, message: error };
}

/** The last non-empty line of a process's output, at most MISC_MESSAGE_CHARS long. */
function lastLine(output: string): string {
  const line = output.trimEnd().split("\n").pop() ?? "";
  return line.length > MISC_MESSAGE_CHARS ? `…${line.slice(-MISC_MESSAGE_CHARS)}` : line;
}

/**
 * Runs the command (no shell) in its own process group, killed at the
 * timeout. Exit 0 passes; with dynamic_weight, 2 to 255 pass too and set the
 * weight to the code minus 2 (keepalived's misc_dynamic), and 1 fails; any
 * other end fails. The command finds the server in TANDEM_CHECK_ADDRESS and
 * TANDEM_CHECK_PORT.
 */
async function miscCheck(target: Target, check: CheckRaw, signal: AbortSignal): Promise<CheckOutcome> {
  if (!check.command) return { ok: false, message: "no command to run" };
  const env = { PATH: AGENT_PATH, LANG: "C", TANDEM_CHECK_ADDRESS: target.address, TANDEM_CHECK_PORT: target.port === null ? "" : String(target.port) };
  const dynamic = (code: number) => check.dynamic_weight && code >= 2 && code <= 255;
  const { result } = await runProcess({ argv: check.command, env }, { timeoutMs: parseDuration(check.timeout)!, signal, killGraceMs: MISC_KILL_GRACE_MS }, (code) => ({
    status: code === 0 || dynamic(code) ? "ok" : "failed",
  }));
  const said = lastLine(result.output);
  const code = result.exitCode;
  if (result.status === "ok" && code !== null && dynamic(code)) return { ok: true, message: `exit ${code}: weight ${code - 2}`, weight: code - 2 };
  if (result.status === "ok") return { ok: true, message: said || "exit 0" };
  if (result.status === "failed") return { ok: false, message: `exit ${code}${said ? `: ${said}` : ""}` };
  return { ok: false, message: result.message };
}

export const CHECKERS: Record<CheckKind, CheckFn> = {
  tcp: tcpCheck,
  http: httpCheck,
  https: httpsCheck,
  misc: miscCheck,
  dns: dnsCheck,
  none: async () => ({ ok: true, message: "not checked" }),
};

/** Runs the check of its kind; never rejects (a checker's throw is a failure). */
export async function runCheck(target: Target, check: CheckRaw, signal: AbortSignal, checkers: Record<CheckKind, CheckFn> = CHECKERS): Promise<CheckOutcome> {
  try {
    return await checkers[check.kind](target, check, signal);
  } catch (err) {
    return { ok: false, message: describeError(err) };
  }
}
