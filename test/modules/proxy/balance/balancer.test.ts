import { describe, expect, test } from "bun:test";
import type { Server } from "../../../../modules/proxy/balance/balancer.ts";
import { backend, balancer, index, request, sequence, state } from "./helpers.ts";

describe("maxconn and the queue", () => {
  test("every server full: requests queue in order; each freed slot serves the oldest", () => {
    const { b, dispatched } = balancer(backend([{ maxconn: 1 }, { maxconn: 1 }], { queue: 3 }));
    const s0 = b.pick(request({ handle: 1 })) as Server;
    const s1 = b.pick(request({ handle: 2 })) as Server;
    expect([index(s0), index(s1)]).toEqual([0, 1]);
    expect([3, 4, 5].map((h) => b.pick(request({ handle: h })))).toEqual(["queued", "queued", "queued"]);
    expect(b.pick(request({ handle: 6 }))).toBe("queue_full");
    expect(b.queued).toBe(3);
    b.release(s1);
    b.release(s0);
    expect(dispatched).toEqual([
      [3, 1],
      [4, 0],
    ]);
    expect(b.servers.map((s) => s.inflight)).toEqual([1, 1]);
    expect(b.queued).toBe(1);
  });

  test("queue 0: a request that finds every server full is refused at once", () => {
    const { b } = balancer(backend([{ maxconn: 1 }], { queue: 0 }));
    b.pick(request());
    expect(b.pick(request({ handle: 1 }))).toBe("queue_full");
  });

  test("expire returns the requests that waited queue_timeout, in order; cancel takes one out", () => {
    const { b, dispatched } = balancer(backend([{ maxconn: 1 }], { queue_timeout: "2s" }));
    const s = b.pick(request()) as Server;
    b.pick(request({ handle: 1, now: 1000 }));
    b.pick(request({ handle: 2, now: 1500 }));
    b.pick(request({ handle: 3, now: 2500 }));
    expect(b.cancel(2)).toBe(true);
    expect(b.cancel(2)).toBe(false);
    expect(b.expire(2999)).toEqual([]);
    expect(b.expire(4000)).toEqual([1]);
    expect(b.expire(10_000)).toEqual([3]);
    b.release(s);
    expect(dispatched).toEqual([]);
  });

  test("a request waiting for its own server (a cookie) and one waiting for any: a freed slot serves the older", () => {
    const { b, dispatched } = balancer(backend([{ maxconn: 1 }, { maxconn: 1 }], { cookie: "SRV" }));
    const s0 = b.pick(request()) as Server;
    const s1 = b.pick(request()) as Server;
    expect(b.pick(request({ handle: 1 }))).toBe("queued");
    expect(b.pick(request({ handle: 2, cookie: s1.cookie }))).toBe("queued");
    expect(b.pick(request({ handle: 3, cookie: s1.cookie }))).toBe("queued");
    b.release(s1);
    b.release(s1);
    b.release(s0);
    expect(dispatched).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(b.servers.map((s) => s.inflight)).toEqual([0, 1]);
    b.release(s1);
    expect(dispatched.at(-1)).toEqual([3, 1]);
  });

  test("a server coming up takes queued requests; one going down sends its own queue to the others", () => {
    const { b, dispatched } = balancer(backend([{ maxconn: 1 }, { maxconn: 2 }], { cookie: "SRV" }));
    b.setStates([state(1, { up: false })]);
    const s0 = b.pick(request()) as Server;
    expect(b.pick(request({ handle: 1, cookie: s0.cookie }))).toBe("queued");
    expect(b.pick(request({ handle: 2 }))).toBe("queued");
    b.setStates([state(1)]);
    expect(dispatched).toEqual([[2, 1]]);
    b.setStates([state(0, { up: false })]);
    expect(dispatched).toEqual([
      [2, 1],
      [1, 1],
    ]);
  });

  test("a queued request is not handed to a server it excluded", () => {
    const { b, dispatched } = balancer(backend([{ maxconn: 1 }, { maxconn: 1 }]));
    const s0 = b.pick(request()) as Server;
    const s1 = b.pick(request()) as Server;
    expect(b.pick(request({ handle: 1, exclude: [s0] }))).toBe("queued");
    expect(b.pick(request({ handle: 2 }))).toBe("queued");
    b.release(s0);
    b.release(s1);
    expect(dispatched).toEqual([
      [2, 0],
      [1, 1],
    ]);
  });
});

describe("retries: the exclusion list", () => {
  test("a retry takes another server; all excluded: unavailable", () => {
    const { b } = balancer(backend([{}, {}, {}], { balance: "leastconn" }));
    const tried: Server[] = [];
    for (let i = 0; i < 3; i++) {
      const s = b.pick(request({ exclude: tried })) as Server;
      expect(tried.includes(s)).toBe(false);
      tried.push(s);
      b.release(s);
    }
    expect(b.pick(request({ exclude: tried }))).toBe("unavailable");
  });

  test("roundrobin: exclusions do not disturb the cycle of the others", () => {
    const { b } = balancer(backend([{}, {}, {}]));
    expect(sequence(b, 6, () => request({ exclude: [b.servers[1]!] }))).toEqual([0, 2, 0, 2, 0, 2]);
  });
});

describe("backup servers", () => {
  test("used only when no active server is usable, the first usable backup alone; actives back: backups idle", () => {
    const { b } = balancer(backend([{}, {}, { backup: true }, { backup: true }]));
    expect(sequence(b, 4)).toEqual([0, 1, 0, 1]);
    b.setStates([state(0, { up: false }), state(1, { admin: "maint" })]);
    expect(sequence(b, 3)).toEqual([2, 2, 2]);
    b.setStates([state(2, { up: false })]);
    expect(sequence(b, 2)).toEqual([3, 3]);
    b.setStates([state(1)]);
    expect(sequence(b, 2)).toEqual([1, 1]);
  });

  test("active servers draining (or of weight 0) leave their new clients to the backup", () => {
    const { b } = balancer(backend([{}, { weight: 2 }, { backup: true }]));
    b.setStates([state(0, { admin: "drain" }), state(1, { weight: 0 })]);
    expect(sequence(b, 2)).toEqual([2, 2]);
  });

  test("all down, backups too: unavailable", () => {
    const { b } = balancer(backend([{}, { backup: true }]));
    b.setStates([state(0, { up: false }), state(1, { up: false })]);
    expect(b.pick(request())).toBe("unavailable");
  });
});

describe("drain and maint", () => {
  test("drain: no new client, its cookie clients still; maint: nobody", () => {
    const { b } = balancer(backend([{}, {}], { cookie: "SRV" }));
    const cookie = b.servers[0]!.cookie;
    b.setStates([state(0, { admin: "drain" })]);
    expect(sequence(b, 4)).toEqual([1, 1, 1, 1]);
    expect(sequence(b, 2, () => request({ cookie }))).toEqual([0, 0]);
    b.setStates([state(0, { admin: "maint" })]);
    expect(sequence(b, 2, () => request({ cookie }))).toEqual([1, 1]);
  });

  test("an unknown cookie balances as usual; each server's cookie is stable and distinct", () => {
    const { b } = balancer(backend([{}, {}, {}], { cookie: "SRV" }));
    expect(sequence(b, 3, () => request({ cookie: "nope" }))).toEqual([0, 1, 2]);
    const again = balancer(backend([{}, {}, {}], { cookie: "SRV" })).b;
    expect(again.servers.map((s) => s.cookie)).toEqual(b.servers.map((s) => s.cookie));
    expect(new Set(b.servers.map((s) => s.cookie)).size).toBe(3);
  });

  test("a server removed from the config keeps its in-flight requests until they are released", () => {
    const { b } = balancer(backend([{}, {}]));
    const s0 = b.pick(request()) as Server;
    const config = backend([{}, {}]);
    b.configure({ ...config, servers: config.servers.slice(1) });
    expect(b.servers.map(index)).toEqual([1]);
    expect(sequence(b, 2)).toEqual([1, 1]);
    b.release(s0);
    expect(s0.inflight).toBe(0);
  });
});
