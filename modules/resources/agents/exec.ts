/**
 * The operator's own commands, each an argv array run without a shell:
 * start and stop succeed on exit 0; monitor exits 0 when running, 7 (OCF's
 * "not running") when cleanly stopped, and anything else means failed.
 */
import { unimplemented, type Agent, type AgentAction, type AgentResult, type AgentStatus, type RunOptions } from "../../../core/agent.ts";
import { AGENT_PATH } from "./ocf.ts";
import { runProcess } from "../../../core/os/process.ts";

export const EXEC_NOT_RUNNING = 7;

export interface ExecAgentOptions {
  /** The resource's name, for `exec:NAME`. */
  name: string;
  start: string[];
  stop: string[];
  monitor: string[];
}

export function execStatus(action: "start" | "stop" | "monitor", exitCode: number): { status: AgentStatus; message?: string } {
  if (exitCode === 0) return { status: "ok" };
  if (action === "monitor" && exitCode === EXEC_NOT_RUNNING) return { status: "not-running" };
  return { status: "failed", message: `${action} exited ${exitCode}` };
}

export class ExecAgent implements Agent {
  readonly name: string;

  constructor(private readonly o: ExecAgentOptions) {
    for (const verb of ["start", "stop", "monitor"] as const) {
      if (!o[verb].length || !o[verb][0]) throw new RangeError(`exec:${o.name}: the ${verb} command is empty`);
    }
    this.name = `exec:${o.name}`;
  }

  async run(action: AgentAction, options: RunOptions): Promise<AgentResult> {
    if (action === "meta-data" || action === "validate-all" || action === "promote" || action === "demote") return unimplemented(action, "exec");
    const verb = action === "probe" ? "monitor" : action;
    const spec = { argv: this.o[verb], env: { PATH: AGENT_PATH, LANG: "C" } };
    return { action, ...(await runProcess(spec, options, (code) => execStatus(verb, code))).result };
  }
}
