import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Notifier, notifyEnv, notifyMessage, unixAddress } from "../../core/sd-notify.ts";
import { tempDir, waitFor } from "../helpers.ts";
import { NotifyListener } from "./notify-listener.ts";

const tmp = tempDir("sdnotify");
afterAll(() => tmp.cleanup());

describe("the environment", () => {
  test("no NOTIFY_SOCKET: nothing to notify", () => {
    expect(notifyEnv({}, 7)).toBeUndefined();
    expect(notifyEnv({ NOTIFY_SOCKET: "" }, 7)).toBeUndefined();
  });

  test("the watchdog is petted at half WATCHDOG_USEC, only by the process WATCHDOG_PID names (when it names one)", () => {
    expect(notifyEnv({ NOTIFY_SOCKET: "/run/systemd/notify", WATCHDOG_USEC: "10000000" }, 7)).toEqual({ socket: "/run/systemd/notify", watchdogMs: 5000 });
    expect(notifyEnv({ NOTIFY_SOCKET: "/run/systemd/notify", WATCHDOG_USEC: "10000000", WATCHDOG_PID: "7" }, 7)?.watchdogMs).toBe(5000);
    expect(notifyEnv({ NOTIFY_SOCKET: "/run/systemd/notify", WATCHDOG_USEC: "10000000", WATCHDOG_PID: "8" }, 7)?.watchdogMs).toBeUndefined();
    expect(notifyEnv({ NOTIFY_SOCKET: "@x", WATCHDOG_USEC: "0" }, 7)?.watchdogMs).toBeUndefined();
    expect(notifyEnv({ NOTIFY_SOCKET: "@x", WATCHDOG_USEC: "soon" }, 7)?.watchdogMs).toBeUndefined();
  });

  test("a NOTIFY_SOCKET that is not an address is refused with its reason", () => {
    expect(() => notifyEnv({ NOTIFY_SOCKET: "run/notify" }, 7)).toThrow(/neither an absolute path nor an abstract name/);
    expect(() => notifyEnv({ NOTIFY_SOCKET: `/${"x".repeat(120)}` }, 7)).toThrow(/longer than a unix socket address/);
  });
});

describe("the wire", () => {
  test("sockaddr_un: a path ends with NUL, an abstract name starts with one and has no end", () => {
    const path = unixAddress("/run/n");
    expect(path.length).toBe(2 + 6 + 1);
    expect([...path.addr.subarray(0, 9)]).toEqual([1, 0, ...Buffer.from("/run/n"), 0]);
    const abstract = unixAddress("@n1");
    expect(abstract.length).toBe(2 + 3);
    expect([...abstract.addr.subarray(0, 5)]).toEqual([1, 0, 0, ...Buffer.from("n1")]);
  });

  test("a message is KEY=VALUE lines; a newline in a value cannot start a field", () => {
    expect(notifyMessage({ READY: 1, STATUS: "running" })).toBe("READY=1\nSTATUS=running");
    expect(notifyMessage({ STATUS: "bad\nREADY=1" })).toBe("STATUS=bad READY=1");
  });

  for (const [kind, socket] of [
    ["a path", join(tmp.dir, "notify")],
    ["an abstract name", `@tandem-test-notify-${process.pid}`],
  ] as const) {
    test(`datagrams reach a manager listening on ${kind}`, async () => {
      const listener = new NotifyListener(socket);
      const n = new Notifier({ socket }, (m) => {
        throw new Error(m);
      });
      expect(n.send({ READY: 1, STATUS: "running" })).toBe(true);
      expect(n.send({ WATCHDOG: 1 })).toBe(true);
      await waitFor("two messages", () => (listener.messages.length === 2 ? true : undefined), 2000);
      expect(listener.messages.map((m) => m.fields)).toEqual([{ READY: "1", STATUS: "running" }, { WATCHDOG: "1" }]);
      n.close();
      listener.close();
    });
  }

  test("no manager listening: the send fails, is reported once, and never throws", () => {
    const errors: string[] = [];
    const n = new Notifier({ socket: join(tmp.dir, "nobody") }, (m) => errors.push(m));
    expect(n.send({ WATCHDOG: 1 })).toBe(false);
    expect(n.send({ WATCHDOG: 1 })).toBe(false);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/notify the service manager at .*nobody: No such file or directory \(ENOENT\)/);
    n.close();
  });
});
