/**
 * LSB init scripts (/etc/init.d/NAME start|stop|status), as Heartbeat's
 * haresources ran them. `monitor` and `probe` are `status`; there is no
 * meta-data and no validate-all.
 */
import { join } from "node:path";
import { unimplemented, type Agent, type AgentAction, type AgentResult, type AgentStatus, type RunOptions } from "../../../core/agent.ts";
import { AGENT_PATH, OCF_EXIT } from "./ocf.ts";
import { runProcess } from "../../../core/os/process.ts";

export const INIT_D = "/etc/init.d";

/** start and stop: LSB's init-script action codes 0 to 7 mean what OCF's do. */
const LSB_ACTION_MAX = 7;

/** status: 0 running; 1, 2 dead (a pid file or lock file left); 3 not running; 4 unknown. */
export function lsbStatusStatus(exitCode: number): { status: AgentStatus; message?: string } {
  switch (exitCode) {
    case 0:
      return { status: "ok" };
    case 1:
      return { status: "not-running", message: "dead, but its pid file exists" };
    case 2:
      return { status: "not-running", message: "dead, but its lock file exists" };
    case 3:
      return { status: "not-running" };
    case 4:
      return { status: "failed", message: "status unknown" };
    default:
      return { status: "failed", message: `exit code ${exitCode} is not an LSB status code` };
  }
}

/**
 * LSB requires start on a running service and stop on a stopped one to exit
 * 0. Scripts that answer a stop of a stopped service with 7 ("not running")
 * are taken at their word: the service is stopped, which is what was asked.
 */
export function lsbActionStatus(action: "start" | "stop", exitCode: number): { status: AgentStatus; message?: string } {
  if (action === "stop" && exitCode === 7) return { status: "ok", message: "it was not running" };
  const status = exitCode <= LSB_ACTION_MAX ? OCF_EXIT[exitCode] : undefined;
  return status ? { status } : { status: "failed", message: `exit code ${exitCode} is not an LSB code` };
}

export interface LsbAgentOptions {
  /** The service: /etc/init.d/NAME. */
  service: string;
  /** The script, when not /etc/init.d/NAME. */
  script?: string;
}

export class LsbAgent implements Agent {
  readonly name: string;
  readonly script: string;

  constructor(o: LsbAgentOptions) {
    if (!o.service || o.service.includes("/") || o.service.startsWith(".")) throw new RangeError(`bad LSB service name "${o.service}"`);
    this.name = `lsb:${o.service}`;
    this.script = o.script ?? join(INIT_D, o.service);
  }

  async run(action: AgentAction, options: RunOptions): Promise<AgentResult> {
    if (action === "meta-data" || action === "validate-all" || action === "promote" || action === "demote") return unimplemented(action, "LSB");
    const verb = action === "monitor" || action === "probe" ? "status" : action;
    const statusOf = verb === "status" ? lsbStatusStatus : (code: number) => lsbActionStatus(verb, code);
    const spec = { argv: [this.script, verb], env: { PATH: AGENT_PATH, LANG: "C" } };
    return { action, ...(await runProcess(spec, options, statusOf)).result };
  }
}
