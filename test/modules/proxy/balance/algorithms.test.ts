import { describe, expect, test } from "bun:test";
import type { Server } from "../../../../modules/proxy/balance/balancer.ts";
import { backend, balancer, counts, index, request, sequence } from "./helpers.ts";

describe("roundrobin", () => {
  test("smooth weighted: 5:1:1 spreads the light servers inside the cycle, exact counts per cycle", () => {
    const { b } = balancer(backend([{ weight: 5 }, { weight: 1 }, { weight: 1 }]));
    const seq = sequence(b, 70);
    expect(seq.slice(0, 7)).toEqual([0, 0, 0, 1, 2, 0, 0]);
    for (let c = 0; c < 10; c++) expect(counts(seq.slice(7 * c, 7 * c + 7), 3)).toEqual([5, 1, 1]);
  });

  test("a weight changed at runtime takes effect at once", () => {
    const { b } = balancer(backend([{ weight: 1 }, { weight: 1 }]));
    expect(counts(sequence(b, 10), 2)).toEqual([5, 5]);
    b.setStates([{ backend: "web", key: "198.18.0.1:80", up: true, admin: "ready", weight: 3 }]);
    expect(counts(sequence(b, 40), 2)).toEqual([30, 10]);
  });

  test("a full server sits out and resumes where the cycle is, without a burst", () => {
    const { b } = balancer(backend([{ maxconn: 1 }, {}, {}]));
    const held = b.pick(request()) as Server;
    expect(index(held)).toBe(0);
    expect(sequence(b, 6)).toEqual([1, 2, 1, 2, 1, 2]);
    b.release(held);
    expect(counts(sequence(b, 6), 3)).toEqual([2, 2, 2]);
  });
});

describe("leastconn", () => {
  test("fewest in flight per weight; equal loads take turns", () => {
    const { b } = balancer(backend([{}, {}, {}], { balance: "leastconn" }));
    expect(sequence(b, 6)).toEqual([0, 1, 2, 0, 1, 2]);
    const held: Server[] = [];
    for (let i = 0; i < 6; i++) held.push(b.pick(request()) as Server);
    expect(b.servers.map((s) => s.inflight)).toEqual([2, 2, 2]);
    b.release(held.find((s) => index(s) === 1)!);
    expect(index(b.pick(request()) as Server)).toBe(1);
  });

  test("weighted: a server of weight 2 holds twice the requests in flight", () => {
    const { b } = balancer(backend([{ weight: 2 }, { weight: 1 }], { balance: "leastconn" }));
    for (let i = 0; i < 30; i++) b.pick(request());
    expect(b.servers.map((s) => s.inflight)).toEqual([20, 10]);
  });
});

describe("static-rr", () => {
  test("the config weights' cycle, exact; a runtime weight only counts as zero or not", () => {
    const { b } = balancer(backend([{ weight: 3 }, { weight: 1 }], { balance: "static-rr" }));
    const seq = sequence(b, 40);
    expect(seq.slice(0, 4)).toEqual([0, 0, 1, 0]);
    for (let c = 0; c < 10; c++) expect(counts(seq.slice(4 * c, 4 * c + 4), 2)).toEqual([3, 1]);
    b.setStates([{ backend: "web", key: "198.18.0.2:80", up: true, admin: "ready", weight: 9 }]);
    expect(counts(sequence(b, 40), 2)).toEqual([30, 10]);
    b.setStates([{ backend: "web", key: "198.18.0.2:80", up: true, admin: "ready", weight: 0 }]);
    expect(counts(sequence(b, 8), 2)).toEqual([8, 0]);
  });

  test("full servers are skipped", () => {
    const { b } = balancer(backend([{ maxconn: 1 }, {}, {}], { balance: "static-rr" }));
    b.pick(request());
    expect(sequence(b, 4)).toEqual([1, 2, 1, 2]);
  });
});

describe("first", () => {
  test("fills servers in config order up to maxconn", () => {
    const { b } = balancer(backend([{ maxconn: 2 }, { maxconn: 2 }, { maxconn: 2 }], { balance: "first" }));
    const held = [0, 1, 2, 3, 4].map(() => b.pick(request()) as Server);
    expect(held.map(index)).toEqual([0, 0, 1, 1, 2]);
    b.release(held[0]!);
    expect(index(b.pick(request()) as Server)).toBe(0);
    expect(b.pick(request({ exclude: [b.servers[2]!] }))).toBe("queued");
  });
});

describe("random (power of two choices)", () => {
  test("idle servers get requests in proportion to weight", () => {
    const { b } = balancer(backend([{ weight: 3 }, { weight: 1 }], { balance: "random" }), 7);
    const share = counts(sequence(b, 40_000), 2)[0]! / 40_000;
    // binomial: sd = sqrt(0.75 * 0.25 / 40000) ~ 0.0022; 5 sd
    expect(Math.abs(share - 0.75)).toBeLessThan(0.011);
  });

  test("under load the two choices keep servers within a few requests of each other", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { b } = balancer(backend([{}, {}, {}, {}], { balance: "random" }), seed);
      for (let i = 0; i < 1000; i++) b.pick(request());
      const inflight = b.servers.map((s) => s.inflight);
      // one random draw per request would leave a spread of about 2 * sqrt(250) ~ 30
      expect(Math.max(...inflight) - Math.min(...inflight)).toBeLessThanOrEqual(4);
    }
  });

  test("full and excluded servers are never chosen", () => {
    const { b } = balancer(backend([{ maxconn: 1 }, {}, {}], { balance: "random" }), 3);
    const held = b.servers[0]!;
    while (held.inflight === 0) b.pick(request());
    const seq = sequence(b, 300, () => request({ exclude: [b.servers[1]!] }));
    expect(counts(seq, 3)).toEqual([0, 0, 300]);
  });
});
