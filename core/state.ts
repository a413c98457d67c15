/**
 * What one node keeps across a restart: named sections (the resource
 * manager's admin state, the director's overrides, the heartbeat's last
 * incarnation), each module its own, in one JSON file per node,
 * `${dir}/${node}.state.json`:
 * `{ "format": 1, "cluster": ..., "node": ..., "sections": { name: value } }`.
 *
 * Without a dir nothing is kept: `get` finds nothing and `put` does nothing.
 * A write is atomic and durable (a temporary file in the same dir, fsync,
 * rename, fsync of the dir); writes happen only on admin changes, once at
 * each start (the incarnation), and every STATE_RETRY_MS while they fail, so
 * the calls are synchronous. A failed write is an error in the log, a
 * `state.write-failed` event and `tandem_state_write_failed` 1 until a write
 * succeeds again (`state.written`): the next put's, or the store's own retry.
 * A file that cannot be used (not JSON, another format, cluster or node) is
 * not lost: it is moved aside to `FILE.bad-<epoch ms>`, said in an error, and
 * the node starts with nothing kept.
 */
import { closeSync, constants, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EventBus } from "./events.ts";
import type { Logger } from "./log.ts";
import type { Counter, Gauge, Metrics } from "./metrics.ts";
import { describeFileProblem, type FileProblem, ownerProblem } from "./secret-file.ts";
import { type Clock, DeadlineTimer } from "./time.ts";

export const STATE_FORMAT = 1;

/**
 * How long after a failed write the whole file is written again, until one
 * succeeds. A disk that is back (space freed, remounted read-write, the data
 * disk plugged in again) then clears the alert within seconds, not at the next
 * admin change, which may be days away; and one small write every 5 s costs a
 * disk that stays broken nothing. Failed retries are not logged or told again.
 */
export const STATE_RETRY_MS = 5000;

export interface StateOptions {
  /** Where the file is; undefined keeps nothing. Created (mode 0700) when missing. */
  dir: string | undefined;
  cluster: string;
  node: string;
  log: Logger;
  /** Its wall time is the suffix of a file moved aside; its timers retry a failed write. */
  clock: Clock;
  /** A failed write, and the first good one after failures, are told here. */
  events: EventBus;
  /** Where the failed writes are counted (only when a dir is set: without one nothing is written). */
  metrics: Metrics;
}

/** The state file of `node` in `dir`. */
export function stateFile(dir: string, node: string): string {
  return join(dir, `${node}.state.json`);
}

/**
 * Why a state dir that exists cannot be trusted: it (or what a link to it
 * points at) is not a directory, is another user's (root's is fine), or may
 * be written by its group or others, who could then plant or swap the file.
 */
export function unsafeStateDir(dir: string): FileProblem | undefined {
  const st = statSync(dir);
  if (!st.isDirectory()) return { message: `state dir ${dir} is not a directory`, expected: "a directory" };
  const owner = ownerProblem(dir, st);
  if (owner) return { ...owner, message: `state dir ${owner.message}` };
  if ((st.mode & 0o022) !== 0)
    return { message: `state dir ${dir} is writable by others`, expected: "mode 0700 (or no write but the owner's)", found: `mode 0${(st.mode & 0o777).toString(8)}`, hint: `chmod 700 ${dir}` };
  return undefined;
}

/** Pure: the sections of a state file's text, or why `node` of `cluster` cannot use it. */
export function decodeState(text: string, cluster: string, node: string): Record<string, unknown> | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return "not a JSON object";
  const d = doc as Record<string, unknown>;
  if (d.format !== STATE_FORMAT) return `format ${JSON.stringify(d.format)}, this tandem reads ${STATE_FORMAT}`;
  if (d.cluster !== cluster) return `it is cluster ${JSON.stringify(d.cluster)}'s, this is "${cluster}"`;
  if (d.node !== node) return `it is node ${JSON.stringify(d.node)}'s, this is "${node}"`;
  if (typeof d.sections !== "object" || d.sections === null || Array.isArray(d.sections)) return "no sections object";
  return d.sections as Record<string, unknown>;
}

/** The sections of the state file at `file`, or why it cannot be used; none when there is no file. */
export function readState(file: string, cluster: string, node: string): Record<string, unknown> | string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    return `unreadable: ${(e as Error).message}`;
  }
  return decodeState(text, cluster, node);
}

export class StateStore {
  private readonly at: { dir: string; file: string; failures: Counter; failed: Gauge; retry: DeadlineTimer } | null;
  private sections: Record<string, unknown> = {};
  /** Why the last write failed; null when it succeeded or none was made. */
  private error: string | null = null;
  /** Puts whose write failed since the last good write (failed retries are not counted). */
  private failedInRow = 0;

  /** Throws when the dir cannot be made or an unusable file cannot be moved aside: the node must not run over it. */
  constructor(private readonly o: StateOptions) {
    if (o.dir === undefined) {
      this.at = null;
      return;
    }
    const file = stateFile(o.dir, o.node);
    this.at = {
      dir: o.dir,
      file,
      failures: o.metrics.counter("tandem_state_write_failures_total", "writes of the state file for a change that failed (not the retries after one)"),
      failed: o.metrics.gauge("tandem_state_write_failed", "1 when the last write of the state file failed: the file is behind what this node holds"),
      retry: new DeadlineTimer(o.clock, () => this.flush(null)),
    };
    // Both series exist from the start, so that an alert's increase() and == 1 see them before any failure.
    this.at.failures.inc({}, 0);
    this.at.failed.set(0);
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const unsafe = unsafeStateDir(o.dir);
    if (unsafe) throw new Error(describeFileProblem(unsafe));
    const read = readState(file, o.cluster, o.node);
    if (typeof read !== "string") {
      this.sections = read;
      return;
    }
    const aside = `${file}.bad-${o.clock.wall()}`;
    renameSync(file, aside);
    o.log.error({ file, movedTo: aside, reason: read }, `state file ${file} cannot be used (${read}); moved aside to ${aside}; this node starts with no state kept`);
  }

  /** The file, or null when nothing is kept. */
  get file(): string | null {
    return this.at?.file ?? null;
  }

  /** Why the last write failed, or null: it succeeded, or none was made. */
  get writeError(): string | null {
    return this.error;
  }

  get(section: string): unknown {
    return this.sections[section];
  }

  /** Keep a section (a JSON value) and write the file. A failed write is logged and told; the next put or retry writes every section again. */
  put(section: string, value: unknown): void {
    if (!this.at) return;
    this.sections[section] = JSON.parse(JSON.stringify(value));
    this.flush(section);
  }

  /** No retry is left pending (the runtime calls it at exit, once no module runs). */
  close(): void {
    this.at?.retry.clear();
  }

  /** Write every section, for a put of `section` or, when null, the retry; a failed write arms the retry. */
  private flush(section: string | null): void {
    const { dir, file, failures, failed, retry } = this.at!;
    const doc = { format: STATE_FORMAT, cluster: this.o.cluster, node: this.o.node, sections: this.sections };
    try {
      this.write(dir, file, `${JSON.stringify(doc, null, 2)}\n`);
    } catch (e) {
      this.error = (e as Error).message;
      retry.set(this.o.clock.now() + STATE_RETRY_MS);
      if (section === null) return;
      this.failedInRow++;
      failures.inc();
      failed.set(1);
      this.o.log.error({ file, section, err: this.error }, `could not write the state file; the change holds in memory and the whole file is written again every ${STATE_RETRY_MS / 1000} s until it succeeds`);
      this.o.events.emit("state.write-failed", { file, section, error: this.error });
      return;
    }
    retry.clear();
    if (this.error === null) return;
    this.o.events.emit("state.written", { file, section, failed: this.failedInRow });
    this.error = null;
    this.failedInRow = 0;
    failed.set(0);
  }

  /**
   * Through a fresh temporary file in the same dir (what a crash left there is
   * removed first; made with O_EXCL|O_NOFOLLOW, so nothing that appears at its
   * name is written through), fsynced, renamed over the file; then the dir
   * fsynced, so the rename survives a power cut.
   */
  private write(dir: string, file: string, text: string): void {
    const tmp = `${file}.tmp`;
    try {
      unlinkSync(tmp);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dirFd = openSync(dir, "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}
