/**
 * The watchdog's shell: with a recording device on virtual time it pets at its
 * pace, reads quorum from the "cluster" service and holding from the
 * "resources" service, closes with the magic 'V' on a clean stop; the kernel
 * device's code against a file that is not a watchdog fails at the ioctl with
 * the kernel's answer and leaves nothing open. (The real /dev/watchdog is
 * tested in the appliance VM: test/appliance/pair.test.ts.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memberConfig, testContext } from "../context.ts";
import { SimClock } from "../../sim/clock.ts";
import { WatchdogModule } from "../../../modules/watchdog/service.ts";
import { openWatchdog, type WatchdogDevice } from "../../../modules/watchdog/device.ts";
import type { ClusterBus } from "../../../core/cluster.ts";
import { OsError } from "../../../core/os/libc.ts";
import { realAdapters } from "../../../core/adapters.ts";

const config = memberConfig("wd-shell", `[watchdog]\ntimeout = "5s"\n`);

function harness() {
  const clock = new SimClock();
  const log: string[] = [];
  const opened: string[] = [];
  const device: WatchdogDevice = {
    setTimeout: (s) => (log.push(`timeout ${s}`), s),
    pet: () => log.push(`pet ${clock.now()}`),
    close: (magic) => log.push(magic ? "close V" : "close"),
  };
  const ctx = { ...testContext(config, "alpha"), clock, adapters: { ...realAdapters, watchdog: (path: string) => (opened.push(path), device) } };
  const quorum = { quorate: true };
  ctx.services.provide("cluster", { snapshot: () => ({ self: "alpha", peers: [], quorate: quorum.quorate }) } as unknown as ClusterBus);
  const holding = { exclusive: false };
  ctx.services.provide("resources", { holdsExclusive: () => holding.exclusive });
  return { clock, log, opened, ctx, quorum, holding, module: new WatchdogModule(ctx) };
}

describe("watchdog shell", () => {
  test("opens the configured device, sets its timeout, pets every second of a 5 s timeout and offers it", async () => {
    const h = harness();
    await h.module.start(config);
    expect(h.opened).toEqual(["/dev/watchdog"]);
    h.clock.runUntil(3000);
    expect(h.log).toEqual(["timeout 5", "pet 0", "pet 1000", "pet 2000", "pet 3000"]);
    expect(h.ctx.services.get("watchdog")!.timeoutMs()).toBe(5000);
    await h.module.stop();
    expect(h.log.at(-1)).toBe("close V");
    expect(h.ctx.services.get("watchdog")).toBeUndefined();
    h.clock.runUntil(10_000);
    expect(h.log.at(-1)).toBe("close V");
  });

  test("quorum lost while holding exclusive resources: no pet until they are stopped; a stop then leaves it armed", async () => {
    const h = harness();
    await h.module.start(config);
    h.clock.runUntil(1000);
    h.quorum.quorate = false;
    h.holding.exclusive = true;
    h.clock.runUntil(4000);
    expect(h.log).toEqual(["timeout 5", "pet 0", "pet 1000"]);
    expect(h.module.status()).toMatchObject({ withheld: "no quorum while holding exclusive resources", sinceLastPetMs: 3000 });
    h.holding.exclusive = false;
    h.clock.runUntil(5000);
    expect(h.log.at(-1)).toBe("pet 5000");
    h.holding.exclusive = true;
    h.clock.runUntil(6000);
    await h.module.stop();
    expect(h.log.at(-1)).toBe("close");
  });

  test("a node without the cluster and resources services is alone and holds nothing: it pets", async () => {
    const clock = new SimClock();
    const pets: number[] = [];
    const ctx = { ...testContext(config, "alpha"), clock, adapters: { ...realAdapters, watchdog: () => ({ setTimeout: (s: number) => s, pet: () => pets.push(clock.now()), close: () => undefined }) } };
    const m = new WatchdogModule(ctx);
    await m.start(config);
    clock.runUntil(2000);
    expect(pets).toEqual([0, 1000, 2000]);
    await m.stop();
  });

  test("a reload may change the timeout, not the device", async () => {
    const h = harness();
    await h.module.start(config);
    await h.module.reload(memberConfig("wd-shell", `[watchdog]\ntimeout = "10s"\n`));
    expect(h.log.slice(-2)).toEqual(["timeout 10", "pet 0"]);
    await expect(h.module.reload(memberConfig("wd-shell", `[watchdog]\ndevice = "/dev/watchdog1"\n`))).rejects.toThrow("cannot change on a reload");
    await h.module.stop();
  });
});

describe("the kernel device's code", () => {
  const dir = mkdtempSync(join(tmpdir(), "wd-device-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a file that is not a watchdog: WDIOC_SETTIMEOUT fails with ENOTTY; pets and the magic close are its writes", () => {
    const file = join(dir, "not-a-watchdog");
    writeFileSync(file, "");
    const d = openWatchdog(file);
    let err: unknown;
    try {
      d.setTimeout(5);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OsError);
    expect((err as OsError).code).toBe("ENOTTY");
    expect((err as OsError).message).toContain(`set the timeout of ${file} to 5s`);
    d.pet();
    d.close(true);
    expect(readFileSync(file, "latin1")).toBe(".V");
  });

  test("the module's start fails on such a file and closes it", async () => {
    const file = join(dir, "plain");
    writeFileSync(file, "");
    const m = new WatchdogModule({ ...testContext(config, "alpha"), adapters: { ...realAdapters, watchdog: () => openWatchdog(file) } });
    await expect(m.start(config)).rejects.toThrow("ENOTTY");
    expect(readFileSync(file, "latin1")).toBe("V");
  });
});
