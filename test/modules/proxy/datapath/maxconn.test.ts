/**
 * A frontend's maxconn: Bun's listener cannot stop accepting (no pause of a
 * listening socket), so a connection past it is accepted and closed at once,
 * counted `refused` (HAProxy leaves it in the kernel's backlog instead; see
 * modules/proxy/README.md).
 */
import { afterEach, expect, test } from "bun:test";
import { echoServer, inProcess, ports, rawClient, workerConfig } from "./harness.ts";
import { waitFor } from "../../../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

test("maxconn 1: a second connection is closed at once and counted refused; once the first ends, a new one is served", async () => {
  const [front, back] = await ports(2);
  const echo = echoServer(back!);
  cleanups.push(echo.stop);
  const { dp } = inProcess();
  cleanups.push(() => dp.stop(200));
  dp.configure(workerConfig([{ name: "fe", bind: [`127.0.0.1:${front}`], default_backend: "be", mode: "tcp", maxconn: 1 }], [{ name: "be", servers: [{ port: back! }] }]));
  const first = await rawClient(front!);
  first.socket.write("one");
  await waitFor("the first echo", () => (first.text() === "one" ? true : undefined));
  const second = await rawClient(front!);
  second.socket.write("two");
  await second.closed;
  expect(second.text()).toBe("");
  expect(dp.stats().frontends.fe).toMatchObject({ connections: 2, active: 1, refused: 1 });
  first.socket.end();
  await waitFor("the first closed", () => (dp.stats().frontends.fe!.active === 0 ? true : undefined));
  const third = await rawClient(front!);
  third.socket.write("three");
  await waitFor("the third echo", () => (third.text() === "three" ? true : undefined));
  third.socket.end();
});
