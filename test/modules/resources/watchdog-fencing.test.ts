/**
 * The watchdog fence device on virtual time: "fenced" exactly twice the
 * watchdog timeout after it is asked and not a moment before; nothing without
 * this node's armed watchdog; cancelled by the caller's signal; never itself;
 * and through fenceNode, the resource manager's entry.
 */
import { describe, expect, test } from "bun:test";
import { SimClock } from "../../sim/clock.ts";
import { createFenceDevice } from "../../../modules/resources/fencing/config.ts";
import { fenceNode, type FenceResult } from "../../../modules/resources/fencing/device.ts";
import { watchdogFenceWaitMs } from "../../../modules/resources/fencing/watchdog.ts";

const T = 5000;

function device(watchdog: number | null, def: Record<string, unknown> = {}) {
  const clock = new SimClock();
  const d = createFenceDevice({ name: "wd", agent: "watchdog", ...def }, { self: "alpha", clock, watchdogTimeoutMs: () => watchdog ?? undefined });
  return { clock, d };
}

/** The result once settled, or "pending". */
async function settle(p: Promise<FenceResult>): Promise<FenceResult | "pending"> {
  return Promise.race([p, new Promise<"pending">((r) => setTimeout(() => r("pending"), 5))]);
}

describe("watchdog fence device", () => {
  test("waits twice the watchdog timeout, then answers fenced", async () => {
    const { clock, d } = device(T);
    expect(d.kind).toBe("watchdog");
    expect(d.action).toBe("reboot");
    const p = d.fence("bravo", { timeoutMs: 60_000 });
    clock.runUntil(2 * T - 1);
    expect(await settle(p)).toBe("pending");
    clock.runUntil(2 * T);
    expect(await settle(p)).toMatchObject({ node: "bravo", device: "wd", status: "fenced", durationMs: 2 * T, message: expect.stringContaining("2x its watchdog timeout (5000 ms)") });
    expect(watchdogFenceWaitMs(T)).toBe(2 * T);
  });

  test("without this node's armed watchdog it fences nothing", async () => {
    const { d } = device(null);
    expect(await d.fence("bravo", { timeoutMs: 60_000 })).toMatchObject({ status: "error", message: expect.stringContaining("no armed watchdog") });
  });

  test("a device timeout not above the wait is an error at once, not a late success", async () => {
    const { d } = device(T);
    expect(await d.fence("bravo", { timeoutMs: 2 * T })).toMatchObject({ status: "error", durationMs: 0 });
  });

  test("the caller's abort cancels the wait", async () => {
    const { clock, d } = device(T);
    const abort = new AbortController();
    const p = d.fence("bravo", { timeoutMs: 60_000, signal: abort.signal });
    clock.runUntil(T);
    abort.abort();
    expect(await settle(p)).toMatchObject({ status: "cancelled", durationMs: T });
    clock.runUntil(3 * T);
    const aborted = new AbortController();
    aborted.abort();
    expect(await d.fence("bravo", { timeoutMs: 60_000, signal: aborted.signal })).toMatchObject({ status: "cancelled", durationMs: 0 });
  });

  test("never itself, only its nodes", async () => {
    const { d } = device(T, { nodes: ["bravo"] });
    expect(d.canFence("alpha")).toBe(false);
    expect(d.canFence("charlie")).toBe(false);
    expect(d.canFence("bravo")).toBe(true);
    expect(await d.fence("alpha", { timeoutMs: 60_000 })).toMatchObject({ status: "error" });
  });

  test("through fenceNode with the device's own timeout", async () => {
    const { clock, d } = device(T, { timeout: "11s" });
    const p = fenceNode([d], "bravo");
    clock.runUntil(2 * T);
    expect(await settle(p)).toMatchObject({ status: "fenced", device: "wd" });
    const short = device(T, { timeout: "10s" });
    expect(await fenceNode([short.d], "bravo")).toMatchObject({ status: "error", message: expect.stringContaining("not shorter than the device's timeout") });
  });
});
