import { describe, expect, test } from "bun:test";
import { MAX_APP_MESSAGE_BYTES } from "../../../modules/heartbeat/service.ts";
import { MAX_RESOURCES } from "../../../modules/resources/config.ts";
import { decodeAdmin, decodeMessage, encodeMessage } from "../../../modules/resources/wire.ts";
import { ADMIN_VERSION_SKEW_MS, type AdminState, type Report, type Transition } from "../../../modules/resources/engine.ts";

const longName = (i: number) => `r${String(i).padStart(3, "0")}-${"x".repeat(25)}`;

describe("coordinator messages", () => {
  test("the largest report (every resource with a 31-letter name, failed, pending, moved and cleaned up) fits the bus's longest message", () => {
    const names = Array.from({ length: MAX_RESOURCES }, (_, i) => longName(i));
    const report: Report = {
      type: "report",
      seq: Number.MAX_SAFE_INTEGER,
      leaving: true,
      states: Object.fromEntries(names.map((n) => [n, "failed-monitor"])),
      pending: names,
      failures: names.map((resource) => ({ resource, count: 1_000_000, lastFailedAt: 1_795_372_733_075.25, startFailed: true })),
      admin: {
        version: 1_795_372_733_075,
        by: "n".repeat(31),
        standby: ["a".repeat(31), "b".repeat(31)],
        moves: names.map((group) => ({ group, node: "n".repeat(31), until: 1_795_372_733_075 })),
        cleanups: Object.fromEntries(names.map((n) => [n, 1_000_000])),
      },
    };
    const bytes = encodeMessage(report);
    expect(bytes.length).toBeLessThanOrEqual(MAX_APP_MESSAGE_BYTES);
    expect(decodeMessage(bytes)).toEqual(report);
  });

  test("the largest transition (every resource stopped on one node, started and monitored on another, 31-letter names) fits the bus's longest message", () => {
    const names = Array.from({ length: MAX_RESOURCES }, (_, i) => longName(i));
    const node = (c: string) => c.repeat(31);
    const action = (kind: "start" | "stop" | "monitor", resource: string, on: string, intervalMs: number) => ({ id: `${kind}:${resource}@${on}`, kind, resource, node: on, intervalMs, timeoutMs: 86_400_000 });
    const t: Transition = {
      type: "transition",
      seq: Number.MAX_SAFE_INTEGER,
      basis: { [node("a")]: Number.MAX_SAFE_INTEGER, [node("b")]: Number.MAX_SAFE_INTEGER },
      actions: names.flatMap((r) => [action("stop", r, node("a"), 0), action("start", r, node("b"), 0), action("monitor", r, node("b"), 86_400_000)]),
    };
    const bytes = encodeMessage(t);
    expect(bytes.length).toBeLessThanOrEqual(MAX_APP_MESSAGE_BYTES);
    expect(decodeMessage(bytes)).toEqual(t);
  });

  test("a transition comes back as sent; anything else is refused, never thrown", () => {
    const t: Transition = { type: "transition", seq: 3, basis: { bravo: 7 }, actions: [{ id: "start:vip@bravo", kind: "start", resource: "vip", node: "bravo", intervalMs: 0, timeoutMs: 20000 }] };
    expect(decodeMessage(encodeMessage(t))).toEqual(t);
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    expect(decodeMessage(new Uint8Array([0xff, 0xfe, 0x00]))).toBeUndefined();
    expect(decodeMessage(new TextEncoder().encode("{not json"))).toBeUndefined();
    expect(decodeMessage(enc({ ...t, type: "order" }))).toBeUndefined();
    expect(decodeMessage(enc({ ...t, actions: [{ ...t.actions[0], kind: "reboot" }] }))).toBeUndefined();
    expect(decodeMessage(enc({ ...t, basis: { "../etc": 1 } }))).toBeUndefined();
  });

  test("admin state kept across a restart is checked as a peer's: taken when valid, else refused with where it is wrong", () => {
    const admin: AdminState = { version: 1_700_000_000_000, by: "alpha", standby: ["alpha"], moves: [{ group: "web", node: "bravo", until: null }], cleanups: { app: 2 } };
    const wall = admin.version;
    expect(decodeAdmin(admin, wall)).toEqual({ admin });
    expect(decodeAdmin({ ...admin, standby: "alpha" }, wall)).toEqual({ problem: "/standby: Expected array" });
    expect(decodeAdmin({ ...admin, cleanups: { app: -1 } }, wall)).toEqual({ problem: "/cleanups/app: Expected integer to be greater or equal to 0" });
    expect(decodeAdmin([], wall)).toEqual({ problem: "/: Expected object" });
    // What is disabled and in maintenance is kept too; a state kept before they existed is still taken.
    const withMaintenance: AdminState = { ...admin, disabled: ["web"], maintenance: { cluster: false, nodes: ["bravo"], resources: ["app"] } };
    expect(decodeAdmin(withMaintenance, wall)).toEqual({ admin: withMaintenance });
    expect(decodeAdmin({ ...withMaintenance, maintenance: { cluster: "yes", nodes: [], resources: [] } }, wall)).toEqual({ problem: "/maintenance/cluster: Expected boolean" });
  });

  test("admin state kept with a version past this node's wall time plus the skew is refused: a clock far ahead, or a forged file, cannot win over every later change", () => {
    const wall = 1_700_000_000_000;
    const admin: AdminState = { version: wall + ADMIN_VERSION_SKEW_MS, by: "alpha", standby: [], moves: [], cleanups: {} };
    expect(decodeAdmin(admin, wall)).toEqual({ admin });
    const ahead = { ...admin, version: Number.MAX_SAFE_INTEGER };
    expect(decodeAdmin(ahead, wall)).toEqual({ problem: `/version: ${Number.MAX_SAFE_INTEGER} is more than ${ADMIN_VERSION_SKEW_MS / 60_000} minutes past this node's wall time (${wall})` });
  });
});
