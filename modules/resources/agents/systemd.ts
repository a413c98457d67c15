/**
 * systemd units (`systemd:UNIT`), through `systemctl`: start and stop wait
 * for the job to finish (systemctl's default), monitor and probe are
 * `is-active`. Exit codes follow systemctl's (LSB's): for is-active, 0 is
 * active and 3 not active; 4 is "no such unit"; start and stop answer 5 for
 * a unit that is not loaded. No meta-data, no validate-all.
 */
import { unimplemented, type Agent, type AgentAction, type AgentResult, type AgentStatus, type RunOptions } from "../../../core/agent.ts";
import { AGENT_PATH } from "./ocf.ts";
import { runProcess } from "../../../core/os/process.ts";

export const SYSTEMCTL = "/usr/bin/systemctl";
/** A unit name as systemd allows it, never beginning with '-' (an option to systemctl). */
const UNIT_RE = /^[A-Za-z0-9:_.@\\][A-Za-z0-9:_.@\\-]*$/;
const NOT_ACTIVE = 3;
const NO_SUCH_UNIT = 4;
const NOT_LOADED = 5;

export function systemdStatus(verb: "start" | "stop" | "is-active", exitCode: number): { status: AgentStatus; message?: string } {
  if (exitCode === 0) return { status: "ok" };
  if (verb === "is-active") {
    if (exitCode === NOT_ACTIVE) return { status: "not-running" };
    if (exitCode === NO_SUCH_UNIT) return { status: "not-installed", message: "no such unit" };
    return { status: "failed", message: `is-active exited ${exitCode}` };
  }
  if (exitCode === NOT_LOADED) return verb === "stop" ? { status: "ok", message: "no such unit, so it is not running" } : { status: "not-installed", message: "the unit is not loaded (no such unit)" };
  return { status: "failed", message: `${verb} exited ${exitCode}` };
}

export interface SystemdAgentOptions {
  unit: string;
  /** systemctl's path, when not SYSTEMCTL. */
  systemctl?: string;
}

export class SystemdAgent implements Agent {
  readonly name: string;
  private readonly systemctl: string;

  constructor(private readonly o: SystemdAgentOptions) {
    if (!UNIT_RE.test(o.unit)) throw new RangeError(`bad systemd unit name "${o.unit}"`);
    this.name = `systemd:${o.unit}`;
    this.systemctl = o.systemctl ?? SYSTEMCTL;
  }

  async run(action: AgentAction, options: RunOptions): Promise<AgentResult> {
    if (action === "meta-data" || action === "validate-all" || action === "promote" || action === "demote") return unimplemented(action, "systemd");
    const verb = action === "monitor" || action === "probe" ? "is-active" : action;
    const argv = verb === "is-active" ? [this.systemctl, "is-active", "--quiet", this.o.unit] : [this.systemctl, verb, this.o.unit];
    const { result } = await runProcess({ argv, env: { PATH: AGENT_PATH, LANG: "C" } }, options, (code) => systemdStatus(verb, code));
    return { action, ...result };
  }
}
