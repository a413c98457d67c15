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
