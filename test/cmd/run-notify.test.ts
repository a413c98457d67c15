/**
 * `tandem run` under a service manager (Type=notify): a real node started with
 * NOTIFY_SOCKET and WATCHDOG_USEC pointing at a datagram socket this test
 * listens on, as systemd's manager does.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NodeProcess, freePort, tandem, tempDir, waitFor } from "../helpers.ts";
import { NotifyListener, type Received } from "../core/notify-listener.ts";

const tmp = tempDir("notify");
const nodes: NodeProcess[] = [];
const listeners: NotifyListener[] = [];
afterAll(() => {
  for (const n of nodes) n.kill();
  for (const l of listeners) l.close();
  tmp.cleanup();
});

/** The watchdog systemd would give: 400 ms, so the node pets every 200 ms. */
const WATCHDOG_USEC = 400_000;
const PET_MS = WATCHDOG_USEC / 1000 / 2;

async function message(l: NotifyListener, what: string, pred: (m: Received) => boolean, after = 0, timeoutMs = 10_000): Promise<Received> {
  return waitFor(what, () => l.messages.slice(after).find(pred), timeoutMs);
}

test("READY, STATUS, WATCHDOG at half WATCHDOG_USEC, RELOADING then READY around a reload (STATUS names what it could not apply), STOPPING on stop", async () => {
  await tandem(["keygen", "-o", join(tmp.dir, "cluster.key")]);
  const file = join(tmp.dir, "tandem.toml");
  writeFileSync(file, `cluster = "notifytest"\nkey_file = "cluster.key"\n\n[[nodes]]\nname = "solo"\naddress = "127.0.0.1"\n\n[api]\nport = ${await freePort()}\n\n[runtime]\nstop_timeout = "3s"\n`);
  const l = new NotifyListener(join(tmp.dir, "notify"));
  listeners.push(l);
  const node = new NodeProcess(["-c", file, "--node", "solo"], tmp.dir, { NOTIFY_SOCKET: l.socket, WATCHDOG_USEC: String(WATCHDOG_USEC) });
  nodes.push(node);

  const ready = await message(l, "READY=1", (m) => m.fields.READY === "1");
  expect(ready.fields.STATUS).toBe("running");
  await node.waitLog("the node to run", (x) => x.event === "runtime.running");
  const before = l.messages.slice(0, l.messages.indexOf(ready));
  expect(before.find((m) => m.fields.STATUS?.startsWith("starting "))?.fields.STATUS).toContain("api");

  // The pets keep coming at about half the watchdog.
  const from = l.with("WATCHDOG").length;
  await waitFor("five more pets", () => (l.with("WATCHDOG").length >= from + 5 ? true : undefined), 5000);
  const pets = l.with("WATCHDOG").slice(from);
  for (const m of pets) expect(m.fields).toEqual({ WATCHDOG: "1" });
  const gaps = pets.slice(1).map((m, i) => m.at - pets[i]!.at);
  expect(Math.max(...gaps)).toBeLessThan(WATCHDOG_USEC / 1000);
  expect(gaps.reduce((a, b) => a + b, 0) / gaps.length).toBeGreaterThan(PET_MS / 2);

  // A reload that changes nothing: RELOADING=1, then READY=1 at once.
  let mark = l.messages.length;
  node.kill("SIGHUP");
  await message(l, "RELOADING=1", (m) => m.fields.RELOADING === "1", mark);
  const unchanged = await message(l, "READY=1 after the reload", (m) => m.fields.READY === "1", mark);
  expect(unchanged.fields.STATUS).toBe("running (reload unchanged)");

  // A reload that changes the API's section: READY=1 once the module took it.
  writeFileSync(file, readFileSync(file, "utf8").replace("[api]\n", "[api]\nhosts = [\"tandem.example\"]\n"));
  mark = l.messages.length;
  node.kill("SIGHUP");
  const reloading = await message(l, "RELOADING=1", (m) => m.fields.RELOADING === "1", mark);
  const applied = await message(l, "READY=1 after the reload", (m) => m.fields.READY === "1", mark);
  expect(applied.at).toBeGreaterThanOrEqual(reloading.at);
  expect(applied.fields.STATUS).toBe("running (config reloaded)");
  expect(node.lines().some((x) => x.event === "runtime.reloaded")).toBe(true);

  // A reload that a module cannot take (the API to a port in use): READY=1, and STATUS says which and why.
  const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  writeFileSync(file, readFileSync(file, "utf8").replace(/^port = \d+$/m, `port = ${taken.port}`));
  mark = l.messages.length;
  node.kill("SIGHUP");
  const refused = await message(l, "READY=1 after the reload", (m) => m.fields.READY === "1", mark);
  expect(refused.fields.STATUS).toStartWith("running (reload not applied to api: ");
  taken.stop(true);

  // Stop.
  mark = l.messages.length;
  node.kill("SIGTERM");
  expect(await node.exited()).toBe(0);
  l.drain();
  expect(l.messages.slice(mark).find((m) => m.fields.STOPPING === "1")?.fields.STATUS).toBe("stopping");
  expect(l.messages.slice(mark).some((m) => m.fields.READY === "1")).toBe(false);
}, 60_000);

test("a node whose manager is gone (nothing bound at NOTIFY_SOCKET) logs it once and runs on", async () => {
  const file = join(tmp.dir, "tandem.toml");
  const node = new NodeProcess(["-c", file, "--node", "solo", "--api", `127.0.0.1:${await freePort()}`], tmp.dir, { NOTIFY_SOCKET: join(tmp.dir, "gone"), WATCHDOG_USEC: "100000" });
  nodes.push(node);
  await node.waitLog("the node to run", (x) => x.event === "runtime.running");
  await Bun.sleep(300);
  expect(node.lines().filter((x) => x.msg === "service manager notification failed")).toHaveLength(1);
  node.kill("SIGTERM");
  expect(await node.exited()).toBe(0);
}, 30_000);

test("a manager listening in the abstract namespace (NOTIFY_SOCKET=@name) gets READY=1 and STOPPING=1; no watchdog asked, none petted", async () => {
  const l = new NotifyListener(`@tandem-test-run-notify-${process.pid}`);
  listeners.push(l);
  const node = new NodeProcess(["-c", join(tmp.dir, "tandem.toml"), "--node", "solo", "--api", `127.0.0.1:${await freePort()}`], tmp.dir, { NOTIFY_SOCKET: l.socket });
  nodes.push(node);
  await message(l, "READY=1", (m) => m.fields.READY === "1");
  node.kill("SIGTERM");
  expect(await node.exited()).toBe(0);
  l.drain();
  expect(l.with("STOPPING")).toHaveLength(1);
  expect(l.with("WATCHDOG")).toEqual([]);
}, 30_000);
