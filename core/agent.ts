/**
 * The contract every agent runner keeps, whatever the agent's kind: run an
 * action with a timeout and get back a typed outcome. The executor calls it;
 * nothing here decides what an outcome means for the cluster (that is the
 * policy's job): a stop that answers "not-running" to a monitor is a fact,
 * not a failure, until the policy says it expected the resource running.
 */

/**
 * `probe` is a one-off monitor whose answer is the state found (OCF: interval 0).
 * `promote` and `demote` are OCF's, for promotable resources (DRBD's primary and secondary).
 */
export type AgentAction = "start" | "stop" | "monitor" | "probe" | "promote" | "demote" | "meta-data" | "validate-all";

export type AgentStatus =
  /** Done; for a monitor or probe: running. */
  | "ok"
  /** Monitor or probe: cleanly stopped. */
  | "not-running"
  /** OCF 8 and 9: running promoted, failed promoted (a promotable resource's monitor or probe). */
  | "promoted"
  | "failed-promoted"
  /** OCF 190 and 191: running but degraded (OCF 1.1). */
  | "degraded"
  | "degraded-promoted"
  /** The agent said the action failed (OCF 1, or a code outside its kind's table). */
  | "failed"
  | "invalid-args"
  | "unimplemented"
  | "insufficient-privileges"
  | "not-installed"
  | "not-configured"
  /** No answer within the timeout: the agent's process group was killed. */
  | "timeout"
  /** The caller's signal aborted it: the agent's process group was killed. */
  | "cancelled"
  /** No answer at all: it could not be started, or a signal killed it. */
  | "error";

/** What one run of a process answers, whatever it was run for (core/os/process.ts). */
export interface ProcessResult {
  status: AgentStatus;
  /** The agent's exit code; null when it did not exit by itself. */
  exitCode: number | null;
  durationMs: number;
  /** The last OUTPUT_TAIL_BYTES of its stdout and stderr, interleaved as they came. */
  output: string;
  /** All the bytes it wrote, of which `output` holds the tail. */
  outputBytes: number;
  /** Tandem's own words on the outcome (why it is an error, what was killed); empty when nothing to add. */
  message: string;
}

export interface AgentResult extends ProcessResult {
  action: AgentAction;
  /**
   * A promotable resource's preference for being promoted on this node (Pacemaker's promotion score, which
   * DRBD's agent sets with crm_master): -1000000 (-INFINITY) never here; absent, no preference is reported.
   */
  promotionScore?: number;
}

export interface RunOptions {
  /** The action's timeout; then its process group gets SIGTERM, and SIGKILL after `killGraceMs`. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Monitors only: the recurring interval, passed to agents that take it (OCF). */
  intervalMs?: number;
  killGraceMs?: number;
}

export interface Agent {
  /** As written in the config, e.g. "ocf:heartbeat:Dummy", "lsb:nginx", "exec:my-daemon". */
  readonly name: string;
  run(action: AgentAction, options: RunOptions): Promise<AgentResult>;
}

/** A result for an action this kind of agent does not have: no process is started. */
export function unimplemented(action: AgentAction, kind: string): AgentResult {
  return { action, status: "unimplemented", exitCode: null, durationMs: 0, output: "", outputBytes: 0, message: `${kind} agents have no ${action} action` };
}
