/**
 * Runs one agent process without blocking the event loop: in its own session
 * (so its process group is its own and holds whatever it forks), with a
 * timeout that kills the whole group, and with its output kept in bounded
 * memory whatever it prints.
 */
import type { AgentStatus, ProcessResult, RunOptions } from "../agent.ts";

/** What a result keeps of an agent's stdout and stderr. */
export const OUTPUT_TAIL_BYTES = 4096;
/** Between SIGTERM to a timed-out agent's group and SIGKILL. */
export const KILL_GRACE_MS = 2000;
/** After SIGKILL, how long to wait for the group to be reaped before answering anyway. */
export const REAP_WAIT_MS = 1000;
/** After an agent exits, how long its output may still arrive (a daemon it started may hold the pipe). */
export const OUTPUT_DRAIN_MS = 200;
/** How often to look whether a signalled group is gone. */
const GROUP_POLL_MS = 20;

export interface ProcessSpec {
  argv: string[];
  env: Record<string, string>;
  /** Written to its stdin, which is then closed; without it, stdin is /dev/null. */
  stdin?: string;
  /** Also keep stdout from its start, up to this many bytes (meta-data). */
  captureStdoutBytes?: number;
}

export interface ProcessOutcome {
  result: ProcessResult;
  /** With `captureStdoutBytes`: stdout, or null when it was longer than that. */
  stdout: string | null;
}

/** The last `limit` bytes written to it; memory stays `limit` bytes. */
export class TailBuffer {
  private readonly buf: Uint8Array;
  private end = 0;
  private wrapped = false;
  total = 0;

  constructor(private readonly limit: number) {
    this.buf = new Uint8Array(limit);
  }

  push(chunk: Uint8Array): void {
    this.total += chunk.length;
    if (chunk.length >= this.limit) {
      this.buf.set(chunk.subarray(chunk.length - this.limit));
      this.end = 0;
      this.wrapped = true;
      return;
    }
    const first = Math.min(chunk.length, this.limit - this.end);
    this.buf.set(chunk.subarray(0, first), this.end);
    this.buf.set(chunk.subarray(first), 0);
    if (this.end + chunk.length >= this.limit) this.wrapped = true;
    this.end = (this.end + chunk.length) % this.limit;
  }

  bytes(): Uint8Array {
    if (!this.wrapped) return this.buf.slice(0, this.end);
    const out = new Uint8Array(this.limit);
    out.set(this.buf.subarray(this.end));
    out.set(this.buf.subarray(0, this.end), this.limit - this.end);
    return out;
  }

  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
}

/** The first `limit` bytes written to it, or null once more came. */
class HeadBuffer {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  private overflow = false;

  constructor(private readonly limit: number) {}

  push(chunk: Uint8Array): void {
    if (this.overflow) return;
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.overflow = true;
      this.chunks.length = 0;
      return;
    }
    this.chunks.push(chunk);
  }

  text(): string | null {
    if (this.overflow) return null;
    const decoder = new TextDecoder();
    return this.chunks.map((c) => decoder.decode(c, { stream: true })).join("") + decoder.decode();
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Signals every process in the group; false when none is left. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Polls until the leader has exited and no process is left in its group; false when the time ran out. */
async function groupGone(pgid: number, leaderGone: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  for (;;) {
    if (leaderGone() && !signalGroup(pgid, 0)) return true;
    if (performance.now() >= deadline) return false;
    await sleep(GROUP_POLL_MS);
  }
}

/**
 * SIGTERM to the group, SIGKILL to what is left after the grace, then a
 * bounded wait for the group to be empty. Zombies count as members until
 * their parent (PID 1, for orphans) reaps them.
 */
async function killGroup(pgid: number, exited: Promise<unknown>, graceMs: number): Promise<string> {
  let leaderExited = false;
  void exited.then(() => (leaderExited = true));
  const leaderGone = () => leaderExited;
  if (!signalGroup(pgid, "SIGTERM")) return "its process group was already gone";
  if (await groupGone(pgid, leaderGone, graceMs)) return "its process group ended on SIGTERM";
  signalGroup(pgid, "SIGKILL");
  const gone = await groupGone(pgid, leaderGone, REAP_WAIT_MS);
  return `its process group was killed (SIGKILL after ${graceMs} ms)${gone ? "" : `, and was not reaped within ${REAP_WAIT_MS} ms`}`;
}

async function pump(reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> }, sinks: ((chunk: Uint8Array) => void)[]): Promise<void> {
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || !value) return;
      for (const sink of sinks) sink(value);
    }
  } catch {
    // The reader was cancelled after the drain window: what came is kept.
  }
}

function spawnError(argv0: string, err: unknown, durationMs: number): ProcessResult {
  const code = (err as { code?: string }).code;
  const status: AgentStatus = code === "ENOENT" ? "not-installed" : code === "EACCES" ? "insufficient-privileges" : "error";
  const message = `cannot run ${argv0}: ${err instanceof Error ? err.message : String(err)}`;
  return { status, exitCode: null, durationMs, output: "", outputBytes: 0, message };
}

/**
 * Runs `spec.argv` and maps its exit code with `statusOf`. Never throws for
 * anything the agent does; throws RangeError for a timeout that is not a
 * positive number (a caller's bug).
 */
export async function runProcess(
  spec: ProcessSpec,
  options: RunOptions,
  statusOf: (exitCode: number) => { status: AgentStatus; message?: string },
): Promise<ProcessOutcome> {
  const { timeoutMs, signal, killGraceMs = KILL_GRACE_MS } = options;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new RangeError(`timeoutMs must be a positive number, not ${timeoutMs}`);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  if (signal?.aborted) {
    return { result: { status: "cancelled", exitCode: null, durationMs: 0, output: "", outputBytes: 0, message: "cancelled before it started" }, stdout: null };
  }

  let proc: Bun.Subprocess<Bun.SpawnOptions.Writable, "pipe", "pipe">;
  try {
    const stdin = spec.stdin === undefined ? "ignore" : new TextEncoder().encode(spec.stdin);
    proc = Bun.spawn({ cmd: spec.argv, env: spec.env, cwd: "/", stdin, stdout: "pipe", stderr: "pipe", detached: true });
  } catch (err) {
    return { result: spawnError(spec.argv[0] ?? "", err, elapsed()), stdout: null };
  }

  const tail = new TailBuffer(OUTPUT_TAIL_BYTES);
  const head = spec.captureStdoutBytes !== undefined ? new HeadBuffer(spec.captureStdoutBytes) : null;
  const toTail = (c: Uint8Array) => tail.push(c);
  const readers = [proc.stdout.getReader(), proc.stderr.getReader()];
  const pumps = Promise.all([pump(readers[0]!, head ? [toTail, (c) => head.push(c)] : [toTail]), pump(readers[1]!, [toTail])]);

  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const interrupted = new Promise<"timeout" | "cancelled">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
    onAbort = () => resolve("cancelled");
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  const first = await Promise.race([proc.exited.then(() => "exited" as const), interrupted]);
  clearTimeout(timer);
  if (onAbort) signal?.removeEventListener("abort", onAbort);

  let status: AgentStatus;
  let message = "";
  let exitCode: number | null = null;
  if (first === "exited") {
    await Promise.race([pumps, sleep(OUTPUT_DRAIN_MS)]);
    if (proc.signalCode) {
      status = "error";
      message = `killed by ${proc.signalCode}`;
    } else {
      exitCode = proc.exitCode ?? null;
      const mapped = statusOf(exitCode ?? -1);
      status = mapped.status;
      message = mapped.message ?? "";
    }
  } else {
    const how = await killGroup(proc.pid, proc.exited, killGraceMs);
    status = first;
    message = `${first === "timeout" ? `no answer within ${timeoutMs} ms` : "cancelled"}: ${how}`;
    await Promise.race([pumps, sleep(OUTPUT_DRAIN_MS)]);
  }
  for (const reader of readers) void reader.cancel().catch(() => undefined);

  const result: ProcessResult = { status, exitCode, durationMs: elapsed(), output: tail.text(), outputBytes: tail.total, message };
  return { result, stdout: head?.text() ?? null };
}

/** The command line that runs this same program again (compiled binary, or bun + entry). */
export function selfCommand(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}
