import { describe, expect, test } from "bun:test";
import type { Outcome, Server } from "../../../../modules/proxy/balance/balancer.ts";
import { backend, balancer, request, sequence, state } from "./helpers.ts";

function observeAll(b: ReturnType<typeof balancer>["b"], s: Server, outcomes: Outcome[]) {
  return outcomes.map((o) => b.observe(s, o)).filter((m) => m !== undefined);
}

describe("passive health", () => {
  test("layer7: error_limit consecutive errors (connect errors, timeouts, 5xx) mark the server down once", () => {
    const { b } = balancer(backend([{}, {}], { error_limit: 3 }));
    const s0 = b.servers[0]!;
    expect(observeAll(b, s0, ["http_5xx", "timeout"])).toEqual([]);
    expect(s0.errors).toBe(2);
    expect(observeAll(b, s0, ["connect_error", "http_5xx"])).toEqual([{ type: "observed", backend: "web", server: s0.key, reason: "3 consecutive errors (observe layer7), the last a connect error" }]);
    expect(s0.observedDown).toBe(true);
    expect(observeAll(b, s0, ["timeout", "timeout", "timeout"])).toEqual([]);
    expect(sequence(b, 3)).toEqual([1, 1, 1]);
  });

  test("a success resets the count", () => {
    const { b } = balancer(backend([{}, {}], { error_limit: 3 }));
    const s0 = b.servers[0]!;
    expect(observeAll(b, s0, ["timeout", "timeout", "success", "timeout", "timeout", "success", "timeout"])).toEqual([]);
    expect(s0.errors).toBe(1);
  });

  test("layer4: a 5xx answer is a working connection; none: nothing counts", () => {
    const l4 = balancer(backend([{}], { error_limit: 2, observe: "layer4" })).b;
    expect(observeAll(l4, l4.servers[0]!, ["timeout", "http_5xx", "timeout", "http_5xx"])).toEqual([]);
    expect(observeAll(l4, l4.servers[0]!, ["connect_error", "timeout"])).toHaveLength(1);
    const none = balancer(backend([{}], { error_limit: 1, observe: "none" })).b;
    expect(observeAll(none, none.servers[0]!, ["connect_error", "timeout", "http_5xx"])).toEqual([]);
    expect(none.servers[0]!.observedDown).toBe(false);
  });

  test("back only when the active check reports it down and then up again after the mark", () => {
    const { b } = balancer(backend([{}, {}], { error_limit: 1 }));
    const s0 = b.servers[0]!;
    b.observe(s0, "timeout");
    b.setStates([state(0), state(1)]);
    expect(s0.observedDown).toBe(true);
    b.setStates([state(0, { up: false })]);
    b.setStates([state(0, { up: false })]);
    expect(s0.observedDown).toBe(true);
    b.setStates([state(0)]);
    expect(s0.observedDown).toBe(false);
    expect(s0.errors).toBe(0);
    expect(sequence(b, 2)).toEqual([0, 1]);
  });

  test("or when the operator puts it in maint and back to ready", () => {
    const { b } = balancer(backend([{}, {}], { error_limit: 1 }));
    const s0 = b.servers[0]!;
    b.observe(s0, "connect_error");
    b.setStates([state(0, { admin: "maint" })]);
    b.setStates([state(0)]);
    expect(s0.observedDown).toBe(false);
  });

  test("a server marked down loses its sticky clients and its queue goes to the others", () => {
    const { b, dispatched } = balancer(backend([{ maxconn: 1 }, {}], { error_limit: 1, cookie: "SRV" }));
    const s0 = b.servers[0]!;
    const held = b.pick(request({ cookie: s0.cookie }));
    expect(held).toBe(s0);
    expect(b.pick(request({ handle: 5, cookie: s0.cookie }))).toBe("queued");
    expect(b.observe(s0, "timeout")).toBeDefined();
    expect(dispatched).toEqual([[5, 1]]);
    expect(sequence(b, 1, () => request({ cookie: s0.cookie }))).toEqual([1]);
  });
});
