/**
 * The [watchdog] section: the device and its timeout, the same on every
 * member (one config for the cluster), as Heartbeat's `watchdog` and SBD's
 * SBD_WATCHDOG_DEV / SBD_WATCHDOG_TIMEOUT. Its rules also check the
 * resource manager's watchdog fence devices, which count on it.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Duration } from "../../core/config/primitives.ts";
import { parseDuration } from "../../core/duration.ts";
import type { Finding } from "../../core/config/problems.ts";
import type { RawConfig } from "../../core/config/schema.ts";

/** The shortest timeout: a pet every 400 ms at least; below it a busy node resets for nothing. */
export const WATCHDOG_TIMEOUT_MIN_S = 2;
/** The longest: what most hardware watchdogs take (8 bits of seconds). */
export const WATCHDOG_TIMEOUT_MAX_S = 255;
/** The resource manager's fence device agent that counts a silent peer as fenced after twice the watchdog timeout (modules/resources/fencing/watchdog.ts). */
export const WATCHDOG_FENCE_AGENT = "watchdog";

export const WatchdogSchema = Type.Object(
  {
    device: Type.String({ pattern: "^/dev/[A-Za-z0-9_./-]+$", default: "/dev/watchdog", description: "the watchdog device (softdog where there is no hardware one)" }),
    timeout: Duration("a node not petting its watchdog for this long is reset by the kernel; whole seconds", "10s"),
  },
  { additionalProperties: false },
);

export type WatchdogRaw = Static<typeof WatchdogSchema>;

declare module "../../core/config/schema.ts" {
  interface ModuleSections {
    watchdog?: WatchdogRaw;
  }
}

export function watchdogTimeoutMs(w: WatchdogRaw): number {
  return parseDuration(w.timeout)!;
}

/** The timeout in whole seconds, between the bounds; the fence devices that count on the watchdog exist only with it and outlast two timeouts. */
export function watchdogRules(c: RawConfig): Finding[] {
  const out: Finding[] = [];
  const devices = (c.resources?.fence_device ?? []).map((d, i) => ({ d, i })).filter(({ d }) => d.agent === WATCHDOG_FENCE_AGENT);
  const w = c.watchdog;
  if (!w) {
    for (const { i } of devices)
      out.push({ severity: "error", path: ["resources", "fence_device", i, "agent"], message: "a watchdog fence device needs a [watchdog] section: it counts on every member's watchdog", expected: "a [watchdog] section" });
    return out;
  }
  const ms = watchdogTimeoutMs(w);
  if (ms % 1000 !== 0 || ms < WATCHDOG_TIMEOUT_MIN_S * 1000 || ms > WATCHDOG_TIMEOUT_MAX_S * 1000)
    out.push({ severity: "error", path: ["watchdog", "timeout"], message: `the watchdog timeout must be whole seconds from ${WATCHDOG_TIMEOUT_MIN_S}s to ${WATCHDOG_TIMEOUT_MAX_S}s; found "${w.timeout}"`, expected: `such as "10s"` });
  for (const { d, i } of devices) {
    const bound = parseDuration(d.timeout)!;
    if (bound <= 2 * ms)
      out.push({ severity: "error", path: ["resources", "fence_device", i, "timeout"], message: `a watchdog fence waits twice the watchdog timeout (${(2 * ms) / 1000}s): its timeout "${d.timeout}" must be longer`, expected: `more than ${(2 * ms) / 1000}s` });
  }
  const members = c.nodes.filter((n) => n.roles.includes("member")).length;
  if (devices.length && members === 2 && !c.nodes.some((n) => n.roles.includes("arbiter")))
    out.push({
      severity: "warning",
      path: ["resources", "fence_device", devices[0]!.i],
      message: "watchdog fencing in a pair without an arbiter covers a frozen or starved peer, not a cut link: cut off, both members keep quorum (two-node rules), both pet, and both take over",
      hint: "add a node with roles = [\"arbiter\"]",
    });
  return out;
}
