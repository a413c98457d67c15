/** The node's state file (core/state.ts): kept across a restart, written whole and atomically, never lost when it cannot be used. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EventBus } from "../../core/events.ts";
import { createLogger } from "../../core/log.ts";
import { Metrics } from "../../core/metrics.ts";
import { STATE_FORMAT, STATE_RETRY_MS, StateStore } from "../../core/state.ts";
import { tempDir } from "../helpers.ts";
import { SimClock } from "../sim/clock.ts";

const tmp = tempDir("state");
afterAll(() => tmp.cleanup());

const WALL = 1_700_000_000_123;
let dirs = 0;

/** A store of node `node` in cluster `cluster` over `dir`, on virtual time whose wall clock stands at WALL; the log lines it wrote, its events, its metrics and the time. */
function open(dir: string | undefined, node = "alpha", cluster = "pair") {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: "info", human: false, write: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  const events = new EventBus(node, () => WALL);
  const metrics = new Metrics();
  const time = new SimClock();
  const clock = { now: () => time.now(), wall: () => WALL, after: (ms: number, fn: () => void) => time.after(ms, fn) };
  return { store: new StateStore({ dir, cluster, node, log, clock, events, metrics }), lines, events, metrics, time };
}

/** The value of a metric without labels, as /metrics renders it; undefined when it is not there. */
function sample(metrics: Metrics, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(metrics.render());
  return m ? Number(m[1]) : undefined;
}

function freshDir(): string {
  return join(tmp.dir, `d${dirs++}`, "state");
}

/** The dir replaced by a file: the temporary file cannot be made, whoever the user (root too). */
function breakDir(dir: string): void {
  renameSync(dir, `${dir}.away`);
  writeFileSync(dir, "");
}

function mendDir(dir: string): void {
  rmSync(dir);
  renameSync(`${dir}.away`, dir);
}

describe("the state file", () => {
  test("sections written are read back by the next process; the dir is made with mode 0700, the file 0600", () => {
    const dir = freshDir();
    const first = open(dir).store;
    expect(first.file).toBe(join(dir, "alpha.state.json"));
    expect(first.get("resources")).toBeUndefined();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    first.put("resources", { standby: ["alpha"], version: 3 });
    first.put("director", { "web/198.18.7.101:80": 0 });
    first.put("resources", { standby: [], version: 4 });

    const again = open(dir).store;
    expect(again.get("resources")).toEqual({ standby: [], version: 4 });
    expect(again.get("director")).toEqual({ "web/198.18.7.101:80": 0 });
    expect(JSON.parse(readFileSync(again.file!, "utf8"))).toEqual({
      format: STATE_FORMAT,
      cluster: "pair",
      node: "alpha",
      sections: { resources: { standby: [], version: 4 }, director: { "web/198.18.7.101:80": 0 } },
    });
    expect(statSync(again.file!).mode & 0o777).toBe(0o600);
  });

  test("a put keeps a copy: a later change of the caller's object is not what was written", () => {
    const { store } = open(freshDir());
    const value = { standby: ["alpha"] };
    store.put("resources", value);
    value.standby.push("bravo");
    expect(store.get("resources")).toEqual({ standby: ["alpha"] });
  });

  test("writes go through a temporary file renamed over the file: after each one the file is whole and nothing else is left", () => {
    const dir = freshDir();
    const { store } = open(dir);
    for (let i = 0; i < 20; i++) {
      store.put("resources", { version: i, standby: i % 2 ? ["alpha"] : [] });
      expect((JSON.parse(readFileSync(store.file!, "utf8")) as { sections: { resources: { version: number } } }).sections.resources.version).toBe(i);
      expect(readdirSync(dir)).toEqual(["alpha.state.json"]);
    }
    // A write cut short by a crash leaves only the temporary file half written: the file is as before.
    writeFileSync(`${store.file}.tmp`, '{"format": 1, "sec');
    const after = open(dir);
    expect(after.store.get("resources")).toEqual({ version: 19, standby: ["alpha"] });
    expect(after.lines).toEqual([]);
    after.store.put("resources", { version: 20 });
    expect(readdirSync(dir)).toEqual(["alpha.state.json"]);
  });

  test("a file that is not JSON is moved aside with an error saying where, and the node starts with nothing", () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "alpha.state.json");
    writeFileSync(file, '{"format": 1, "clus');
    const { store, lines } = open(dir);
    expect(store.get("resources")).toBeUndefined();
    const aside = `${file}.bad-${WALL}`;
    expect(readFileSync(aside, "utf8")).toBe('{"format": 1, "clus');
    expect(existsSync(file)).toBe(false);
    const error = lines.find((l) => l.level === 50)!;
    expect(error).toMatchObject({ file, movedTo: aside });
    expect(String(error.msg)).toContain(`moved aside to ${aside}`);
    expect(String(error.reason)).toStartWith("not JSON");
    store.put("resources", { version: 1 });
    expect(open(dir).store.get("resources")).toEqual({ version: 1 });
  });

  test("another node's, another cluster's or another format's file is refused the same way", () => {
    const cases: Array<[string, object, string]> = [
      ["another node", { format: STATE_FORMAT, cluster: "pair", node: "bravo", sections: { resources: { version: 9 } } }, `it is node "bravo"'s, this is "alpha"`],
      ["another cluster", { format: STATE_FORMAT, cluster: "other", node: "alpha", sections: {} }, `it is cluster "other"'s, this is "pair"`],
      ["another format", { format: 2, cluster: "pair", node: "alpha", sections: {} }, `format 2, this tandem reads ${STATE_FORMAT}`],
      ["no sections", { format: STATE_FORMAT, cluster: "pair", node: "alpha" }, "no sections object"],
      ["not an object", [1, 2], "not a JSON object"],
    ];
    for (const [what, doc, reason] of cases) {
      const dir = freshDir();
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "alpha.state.json"), JSON.stringify(doc));
      const { store, lines } = open(dir);
      expect([what, store.get("resources")]).toEqual([what, undefined]);
      expect([what, lines.find((l) => l.level === 50)?.reason]).toEqual([what, reason]);
      expect([what, readdirSync(dir)]).toEqual([what, [`alpha.state.json.bad-${WALL}`]]);
    }
  });

  test("nodes sharing a dir each have their own file", () => {
    const dir = freshDir();
    open(dir, "alpha").store.put("resources", { by: "alpha" });
    open(dir, "bravo").store.put("resources", { by: "bravo" });
    expect(open(dir, "alpha").store.get("resources")).toEqual({ by: "alpha" });
    expect(open(dir, "bravo").store.get("resources")).toEqual({ by: "bravo" });
  });

  test("without a dir nothing is kept: get finds nothing, put writes nothing, and there are no write metrics", () => {
    const { store, lines, events, metrics } = open(undefined);
    expect(store.file).toBeNull();
    store.put("resources", { version: 1 });
    expect(store.get("resources")).toBeUndefined();
    expect(lines).toEqual([]);
    expect(events.since(0)).toEqual([]);
    expect(metrics.render()).not.toContain("tandem_state_");
  });

  test("a dir that cannot be made is an error at once (the node does not start); a failed write is logged and the value still read", () => {
    const blocker = join(tmp.dir, "a-file");
    writeFileSync(blocker, "");
    expect(() => open(join(blocker, "state"))).toThrow(/ENOTDIR|not a directory/);

    const dir = freshDir();
    const { store, lines } = open(dir);
    mkdirSync(join(dir, "alpha.state.json.tmp"));
    store.put("resources", { version: 1 });
    expect(store.get("resources")).toEqual({ version: 1 });
    expect(lines.find((l) => l.level === 50)).toMatchObject({
      file: store.file,
      section: "resources",
      msg: `could not write the state file; the change holds in memory and the whole file is written again every ${STATE_RETRY_MS / 1000} s until it succeeds`,
    });
  });

  test("failed writes are events and metrics until one succeeds again; good writes alone are silent and leave no retry; a good put ends the retries", () => {
    const dir = freshDir();
    const { store, events, metrics, time } = open(dir);
    const file = store.file!;
    expect([sample(metrics, "tandem_state_write_failures_total"), sample(metrics, "tandem_state_write_failed")]).toEqual([0, 0]);
    store.put("resources", { version: 1 });
    expect(events.since(0)).toEqual([]);
    expect(time.pending()).toBe(0);

    breakDir(dir);
    store.put("resources", { version: 2 });
    store.put("director", { "web/198.18.7.101:80": 0 });
    expect(store.writeError).toMatch(/ENOTDIR|not a directory/);
    expect(events.since(0).map((e) => [e.type, e.data.file, e.data.section])).toEqual([
      ["state.write-failed", file, "resources"],
      ["state.write-failed", file, "director"],
    ]);
    expect(String(events.since(0)[0]!.data.error)).toMatch(/ENOTDIR|not a directory/);
    expect([sample(metrics, "tandem_state_write_failures_total"), sample(metrics, "tandem_state_write_failed")]).toEqual([2, 1]);
    expect(time.pending()).toBe(1);

    mendDir(dir);
    const seen = events.since(0).length;
    store.put("resources", { version: 3 });
    expect(events.since(0).slice(seen).map((e) => [e.type, e.data])).toEqual([["state.written", { file, section: "resources", failed: 2 }]]);
    expect(store.writeError).toBeNull();
    expect([sample(metrics, "tandem_state_write_failures_total"), sample(metrics, "tandem_state_write_failed")]).toEqual([2, 0]);
    expect(open(dir).store.get("director")).toEqual({ "web/198.18.7.101:80": 0 });
    expect(time.pending()).toBe(0);
    store.put("resources", { version: 4 });
    time.advance(10 * STATE_RETRY_MS);
    expect(events.since(0).length).toBe(seen + 1);
  });

  test("after a failed write the whole file is written again every STATE_RETRY_MS, quietly, until one succeeds: no put is needed to clear the failure", () => {
    const dir = freshDir();
    const { store, events, metrics, lines, time } = open(dir);
    const file = store.file!;
    const written = () => (JSON.parse(readFileSync(file, "utf8")) as { sections: Record<string, unknown> }).sections;
    store.put("resources", { version: 1 });
    breakDir(dir);
    store.put("resources", { version: 2 });
    expect(events.since(0).map((e) => e.type)).toEqual(["state.write-failed"]);

    // Still broken: each retry fails without a log line, an event or a count, and the next one is armed.
    time.advance(3 * STATE_RETRY_MS);
    expect(time.pending()).toBe(1);
    expect(events.since(0).length).toBe(1);
    expect(lines.filter((l) => l.level === 50).length).toBe(1);
    expect([sample(metrics, "tandem_state_write_failures_total"), sample(metrics, "tandem_state_write_failed")]).toEqual([1, 1]);

    // The dir is back but the temporary file's name is taken by a dir: the retry fails for that reason, which the store now gives.
    mendDir(dir);
    mkdirSync(`${file}.tmp`);
    time.advance(STATE_RETRY_MS);
    expect(store.writeError).toMatch(/EISDIR|is a directory/);
    expect(events.since(0).length).toBe(1);

    // Nothing in the way: the next retry, one interval after the last, writes what the node holds.
    rmSync(`${file}.tmp`, { recursive: true });
    time.advance(STATE_RETRY_MS - 1);
    expect(written().resources).toEqual({ version: 1 });
    time.advance(1);
    expect(written().resources).toEqual({ version: 2 });
    expect(events.since(0).slice(1).map((e) => [e.type, e.data])).toEqual([["state.written", { file, section: null, failed: 1 }]]);
    expect(store.writeError).toBeNull();
    expect([sample(metrics, "tandem_state_write_failures_total"), sample(metrics, "tandem_state_write_failed")]).toEqual([1, 0]);
    expect(time.pending()).toBe(0);
    time.advance(10 * STATE_RETRY_MS);
    expect(events.since(0).length).toBe(2);
    expect(readdirSync(dir)).toEqual(["alpha.state.json"]);
  });

  test("close() leaves no retry: the file stays behind until a put", () => {
    const dir = freshDir();
    const { store, events, metrics, time } = open(dir);
    store.put("resources", { version: 1 });
    breakDir(dir);
    store.put("resources", { version: 2 });
    store.close();
    expect(time.pending()).toBe(0);
    mendDir(dir);
    time.advance(10 * STATE_RETRY_MS);
    expect(open(dir).store.get("resources")).toEqual({ version: 1 });
    expect(events.since(0).map((e) => e.type)).toEqual(["state.write-failed"]);
    expect(sample(metrics, "tandem_state_write_failed")).toBe(1);
  });

  test("a link planted where the temporary file goes is not written through: the write makes a fresh file (O_EXCL|O_NOFOLLOW) and renames it", () => {
    const dir = freshDir();
    const { store } = open(dir);
    const victim = join(tmp.dir, `victim-${dirs}`);
    writeFileSync(victim, "precious\n");
    for (const tmpName of [`${store.file}.tmp`, `${store.file}.tmp.${process.pid}`]) symlinkSync(victim, tmpName);
    store.put("resources", { version: 1 });
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(store.file!).isFile()).toBe(true);
    expect(open(dir).store.get("resources")).toEqual({ version: 1 });
  });

  test("a state dir owned by another user, or writable by its group or others, is refused at start with the reason", () => {
    const other = freshDir();
    mkdirSync(other, { recursive: true, mode: 0o700 });
    chownSync(other, 4242, 4242);
    expect(() => open(other)).toThrow(`state dir ${other} is owned by another user; expected owned by this user (uid ${process.getuid!()}) or root; found uid 4242`);
    for (const mode of [0o777, 0o770, 0o1777]) {
      const open_ = freshDir();
      mkdirSync(open_, { recursive: true });
      chmodSync(open_, mode);
      expect(() => open(open_)).toThrow(`state dir ${open_} is writable by others; expected mode 0700 (or no write but the owner's); found mode 0${(mode & 0o777).toString(8)}`);
    }
    const linked = freshDir();
    mkdirSync(`${linked}.real`, { recursive: true, mode: 0o700 });
    symlinkSync(`${linked}.real`, linked);
    chownSync(`${linked}.real`, 4242, 4242);
    expect(() => open(linked)).toThrow(`state dir ${linked} is owned by another user`);
  });
});
