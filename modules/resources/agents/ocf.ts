/**
 * OCF resource agents, run as Pacemaker runs them: the executable
 * $OCF_ROOT/resource.d/PROVIDER/TYPE with the action as its one argument and
 * everything else in the environment (OCF_RESKEY_<name> per parameter, the
 * timeout and the monitor interval in milliseconds as CRM_meta_ keys).
 */
import { accessSync, chmodSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Agent, AgentAction, AgentResult, AgentStatus, RunOptions } from "../../../core/agent.ts";
import { META_DATA_MAX_BYTES, parseMetaData, XmlError, type OcfMetaData } from "./metadata.ts";
import { runProcess } from "../../../core/os/process.ts";
import type { ErrorClass } from "../model.ts";

export const DEFAULT_OCF_ROOT = "/usr/lib/ocf";
/** The PATH agents get: they call system tools by name. */
export const AGENT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The OCF exit codes (resource-agent API 1.1) and what each means here. */
export const OCF_EXIT: Readonly<Record<number, AgentStatus>> = {
  0: "ok",
  1: "failed",
  2: "invalid-args",
  3: "unimplemented",
  4: "insufficient-privileges",
  5: "not-installed",
  6: "not-configured",
  7: "not-running",
  8: "promoted",
  9: "failed-promoted",
  190: "degraded",
  191: "degraded-promoted",
};

/** OCF parameter names become environment variable names. */
const PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface OcfAgentOptions {
  provider: string;
  type: string;
  /** The resource's name: OCF_RESOURCE_INSTANCE. */
  instance: string;
  params?: Record<string, string>;
  ocfRoot?: string;
}

/**
 * How Pacemaker grades a failed operation's status: hard for invalid
 * arguments (2), unimplemented (3), insufficient privileges (4), not
 * installed (5): that node is banned for the resource, which recovers
 * elsewhere; fatal for not configured (6): stopped everywhere until cleanup;
 * soft for the rest (the operation's on_fail). A probe's "not installed" is
 * not a failure (the resource is not running there) and never reaches here.
 */
export function errorClass(status: AgentStatus): ErrorClass {
  switch (status) {
    case "invalid-args":
    case "unimplemented":
    case "insufficient-privileges":
    case "not-installed":
      return "hard";
    case "not-configured":
      return "fatal";
    default:
      return "soft";
  }
}

export function ocfStatus(exitCode: number): { status: AgentStatus; message?: string } {
  const status = OCF_EXIT[exitCode];
  return status ? { status } : { status: "failed", message: `exit code ${exitCode} is not an OCF code` };
}

/**
 * Pacemaker's crm_master and crm_attribute -p, as far as an OCF agent sets its
 * promotion score with them (ocf-shellfuncs' ocf_promotion_score, DRBD's
 * agent): -v/--update SCORE keeps it, -D/--delete drops it (never promoted
 * here), -G/--query prints it. The score is kept in TANDEM_PROMOTION_FILE,
 * which the agent runner reads after each action. crm_attribute for anything
 * but a promotion score fails, as it does where Pacemaker is not installed.
 */
const PROMOTION_SHIM = `#!/bin/sh
f="$TANDEM_PROMOTION_FILE"
case "$(basename "$0")" in
  crm_attribute) case " $* " in *" -p "*|*" --promotion "*) ;; *) echo "crm_attribute: Tandem keeps promotion scores only (-p)" >&2; exit 1;; esac;;
esac
[ -n "$f" ] || exit 0
while [ $# -gt 0 ]; do
  case "$1" in
    -v|--update) shift; printf '%s\n' "$1" > "$f.new" && mv "$f.new" "$f";;
    --update=*) printf '%s\n' "\${1#--update=}" > "$f.new" && mv "$f.new" "$f";;
    -D|--delete) printf '%s\n' "-INFINITY" > "$f";;
    -G|--query) [ -f "$f" ] && cat "$f";;
  esac
  shift
done
exit 0
`;

let shimDir: string | null = null;

/** A directory of this process's own (mode 0700) holding the crm_master and crm_attribute stand-ins, removed at its exit. */
function promotionShims(): string {
  if (shimDir && existsSync(shimDir)) return shimDir;
  const dir = mkdtempSync(join(tmpdir(), "tandem-crm-"));
  for (const name of ["crm_master", "crm_attribute"]) {
    writeFileSync(join(dir, name), PROMOTION_SHIM);
    chmodSync(join(dir, name), 0o755);
  }
  // Gone with the process (a killed one leaves a few hundred bytes in the temp dir).
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  shimDir = dir;
  return dir;
}

/** A promotion score as crm_master takes it: an integer, INFINITY or -INFINITY (saturated at ±1000000); null when not one. */
export function parsePromotionScore(text: string): number | null {
  const t = text.trim();
  if (/^[+]?INFINITY$/.test(t)) return 1_000_000;
  if (t === "-INFINITY") return -1_000_000;
  if (!/^[+-]?\d{1,9}$/.test(t)) return null;
  return Math.max(-1_000_000, Math.min(1_000_000, Number(t)));
}

export class OcfAgent implements Agent {
  readonly name: string;
  readonly path: string;
  private readonly root: string;

  constructor(private readonly o: OcfAgentOptions) {
    for (const part of [o.provider, o.type]) {
      if (!part || part.includes("/") || part.startsWith(".")) throw new RangeError(`bad OCF provider or type "${part}"`);
    }
    for (const name of Object.keys(o.params ?? {})) {
      if (!PARAM_NAME_RE.test(name)) throw new RangeError(`OCF parameter name "${name}" is not a valid environment name`);
    }
    this.root = o.ocfRoot ?? DEFAULT_OCF_ROOT;
    this.name = `ocf:${o.provider}:${o.type}`;
    this.path = join(this.root, "resource.d", o.provider, o.type);
  }

  /** Where this instance's promotion score is kept (see PROMOTION_SHIM). */
  private promotionFile(): string {
    return join(promotionShims(), `${this.o.instance}.score`);
  }

  private env(action: AgentAction, options: RunOptions): Record<string, string> {
    const shims = promotionShims();
    const env: Record<string, string> = {
      PATH: `${shims}:${AGENT_PATH}`,
      HA_SBIN_DIR: shims,
      TANDEM_PROMOTION_FILE: this.promotionFile(),
      OCF_ROOT: this.root,
      OCF_FUNCTIONS_DIR: join(this.root, "lib", "heartbeat"),
      OCF_RA_VERSION_MAJOR: "1",
      OCF_RA_VERSION_MINOR: "1",
      OCF_RESOURCE_INSTANCE: this.o.instance,
      OCF_RESOURCE_TYPE: this.o.type,
      OCF_RESOURCE_PROVIDER: this.o.provider,
      OCF_RESKEY_CRM_meta_timeout: String(Math.round(options.timeoutMs)),
    };
    // Where agents keep their state: the machine's (ocf-directories' default) unless this process was given its own.
    if (process.env.HA_RSCTMP) env.HA_RSCTMP = process.env.HA_RSCTMP;
    if (action === "probe") env.OCF_RESKEY_CRM_meta_interval = "0";
    else if (action === "monitor") env.OCF_RESKEY_CRM_meta_interval = String(Math.round(options.intervalMs ?? 0));
    for (const [k, v] of Object.entries(this.o.params ?? {})) env[`OCF_RESKEY_${k}`] = v;
    return env;
  }

  /** Pacemaker's answer for an agent that is not there: not installed, without running anything. */
  private missing(action: AgentAction): AgentResult | null {
    try {
      accessSync(this.path, constants.X_OK);
      return null;
    } catch {
      return { action, status: "not-installed", exitCode: null, durationMs: 0, output: "", outputBytes: 0, message: `no executable agent at ${this.path}` };
    }
  }

  async run(action: AgentAction, options: RunOptions): Promise<AgentResult> {
    const missing = this.missing(action);
    if (missing) return missing;
    const argv = [this.path, action === "probe" ? "monitor" : action];
    const result: AgentResult = { action, ...(await runProcess({ argv, env: this.env(action, options) }, options, ocfStatus)).result };
    const file = this.promotionFile();
    const score = existsSync(file) ? parsePromotionScore(readFileSync(file, "utf8")) : null;
    return score === null ? result : { ...result, promotionScore: score };
  }

  /** Runs `meta-data` and reads it; `meta` is null (and the result says why) when that failed. */
  async metaData(options: RunOptions): Promise<{ result: AgentResult; meta: OcfMetaData | null }> {
    const missing = this.missing("meta-data");
    if (missing) return { result: missing, meta: null };
    const spec = { argv: [this.path, "meta-data"], env: this.env("meta-data", options), captureStdoutBytes: META_DATA_MAX_BYTES };
    const { result: run, stdout } = await runProcess(spec, options, ocfStatus);
    const result: AgentResult = { action: "meta-data", ...run };
    if (result.status !== "ok") return { result, meta: null };
    if (stdout === null) return { result: { ...result, status: "error", message: `meta-data longer than ${META_DATA_MAX_BYTES} bytes` }, meta: null };
    try {
      return { result, meta: parseMetaData(stdout) };
    } catch (err) {
      if (!(err instanceof XmlError)) throw err;
      return { result: { ...result, status: "error", message: `meta-data unreadable: ${err.message}` }, meta: null };
    }
  }
}
