/**
 * The plan of the real modules: a module that hosts resource agents (the
 * director) starts before the resource manager, with what it waits for (the
 * checks), so the resource manager, stopped first, can still stop its
 * resources on a clean stop (before, the director stopped first and its
 * resource's stop failed: "the director module does not run on this node").
 */
import { describe, expect, test } from "bun:test";
import { orderModules } from "../../../core/runtime/engine.ts";
import { planFor } from "../../../core/runtime/runtime.ts";
import { moduleDefs } from "../../../modules/index.ts";
import { memberConfig } from "../../modules/context.ts";
import { directorGroup } from "../../lab/config.ts";

describe("the plan's order", () => {
  test("the director and the checks it waits for start before the resource manager, which stops first", () => {
    const config = memberConfig("plan", directorGroup({ lan: "198.18.1.", vip: "198.18.1.50", check: '{ kind = "none" }' }));
    const starts = orderModules(planFor(moduleDefs("test"), config, config.nodes[0]!).modules).map((m) => m.name);
    expect(starts.indexOf("checks")).toBeLessThan(starts.indexOf("director"));
    expect(starts.indexOf("director")).toBeLessThan(starts.indexOf("resources"));
    expect(starts.indexOf("heartbeat")).toBeLessThan(starts.indexOf("resources"));
  });
});
