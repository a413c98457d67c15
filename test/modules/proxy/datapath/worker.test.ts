/** The real worker thread (modules/proxy/worker.ts) driven by its messages, as the control side does. */
import { afterEach, expect, test } from "bun:test";
import type { FromWorker, ToWorker } from "../../../../modules/proxy/messages.ts";
import { workerEntry } from "../../../../core/threads.ts";
import { DataPath } from "../../../../modules/proxy/datapath/datapath.ts";
import { echoServer, ports, rawClient, workerConfig } from "./harness.ts";
import { waitFor } from "../../../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

test("a worker thread listens on configure, forwards, counts, and says stopped after a stop", async () => {
  const [front, back] = await ports(2);
  const echo = echoServer(back!);
  cleanups.push(echo.stop);
  const worker = new Worker(workerEntry("modules/proxy/worker.ts"));
  cleanups.push(() => worker.terminate());
  const heard: FromWorker[] = [];
  worker.onmessage = (e: MessageEvent<FromWorker>) => heard.push(e.data);
  const send = (m: ToWorker) => worker.postMessage(m);
  const config = workerConfig([{ name: "fe", bind: [`127.0.0.1:${front}`], default_backend: "be", mode: "tcp" }], [{ name: "be", servers: [{ port: back! }] }]);
  send({ type: "configure", config, worker: { index: 0, count: 1 } });
  const listening = await waitFor("listening", () => heard.find((m) => m.type === "listening"));
  expect(listening).toEqual({ type: "listening", generation: config.generation });
  const c = await rawClient(front!);
  c.socket.write("through a thread");
  await waitFor("the echo", () => (c.text() === "through a thread" ? true : undefined));
  c.socket.end();
  send({ type: "stats" });
  const stats = await waitFor("stats", () => heard.find((m) => m.type === "stats"));
  expect(stats.type === "stats" && stats.stats.frontends.fe!.connections).toBe(1);
  send({ type: "stop" });
  await waitFor("stopped", () => heard.find((m) => m.type === "stopped"));
  const refused = await rawClient(front!).then(
    () => false,
    () => true,
  );
  expect(refused).toBe(true);
});

test("a bind that cannot be had is named in `listening`", async () => {
  const [taken] = await ports(1);
  const holder = Bun.listen({ hostname: "127.0.0.1", port: taken!, socket: { data() {} } });
  cleanups.push(() => holder.stop(true));
  const worker = new Worker(workerEntry("modules/proxy/worker.ts"));
  cleanups.push(() => worker.terminate());
  const heard: FromWorker[] = [];
  worker.onmessage = (e: MessageEvent<FromWorker>) => heard.push(e.data);
  worker.postMessage({ type: "configure", config: workerConfig([{ name: "fe", bind: [`127.0.0.1:${taken}`], default_backend: "be", mode: "tcp" }], [{ name: "be", servers: [] }]) } satisfies ToWorker);
  const listening = await waitFor("listening", () => heard.find((m) => m.type === "listening"));
  expect(listening.type === "listening" && listening.error).toContain(`127.0.0.1:${taken}`);
});

test("reuse_port: two workers listen on the same bind and both serve", async () => {
  const [front, back] = await ports(2);
  const echo = echoServer(back!);
  cleanups.push(echo.stop);
  const config = workerConfig([{ name: "fe", bind: [`127.0.0.1:${front}`], default_backend: "be", mode: "tcp" }], [{ name: "be", servers: [{ port: back! }] }]);
  const posted: unknown[] = [];
  const dps = [0, 1].map((index) => {
    const dp = new DataPath((m) => posted.push(m));
    dp.configure(config, { index, count: 2 });
    cleanups.push(() => dp.stop(100));
    return dp;
  });
  expect(posted).toEqual([{ type: "listening", generation: config.generation }, { type: "listening", generation: config.generation }]);
  for (let i = 0; i < 20; i++) {
    const c = await rawClient(front!);
    c.socket.write(`c${i}`);
    await waitFor("the echo", () => (c.text() === `c${i}` ? true : undefined));
    c.socket.end();
  }
  const counts = dps.map((dp) => dp.stats().frontends.fe!.connections);
  expect(counts[0]! + counts[1]!).toBe(20);
  // The kernel spreads connections over both sockets (by a hash of the source port: both get some in 20).
  expect(counts[0]).toBeGreaterThan(0);
  expect(counts[1]).toBeGreaterThan(0);
});
