/**
 * `[director] mode = "active-active"`: every member is an active director
 * (the director resource a clone), each virtual service on a consistent
 * hash; the resource manager's clone of the director resource puts one
 * instance on every member, so each node's director is active.
 */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../../core/config/load.ts";
import { MODULES } from "../../../modules/index.ts";
import { clusterConfigOf, groupsOf } from "../../../modules/resources/config.ts";
import { plan } from "../../../modules/resources/policy.ts";

const NODES = `cluster = "aa"
key_file = "k"
[[nodes]]
name = "alpha"
address = "198.18.43.2"
[[nodes]]
name = "bravo"
address = "198.18.43.3"
[[services]]
name = "web"
port = 80
servers = [{ address = "198.18.43.101" }, { address = "198.18.43.102" }]
check = { kind = "none" }
`;

const director = (scheduler: string) => `[director]
mode = "active-active"
[[director.virtual_service]]
name = "web-vip"
address = "198.18.43.10"
port = 80
service = "web"
scheduler = "${scheduler}"
`;

function parse(text: string) {
  const r = parseConfig(NODES + text, "aa.toml", MODULES);
  return r.ok ? { config: r.config, problems: [] as string[] } : { config: null, problems: r.problems.map((p) => `${p.path.join(".")}: ${p.message}`) };
}

describe("active-active directors", () => {
  test("mh or sh, with the director resource a clone (alone or its group): accepted, and the resource manager places an instance on every member", () => {
    for (const resources of [
      `[resources]\n[[resources.resource]]\nname = "lb"\nagent = "director"\nclone = true\n`,
      `[resources]\n[[resources.resource]]\nname = "lb"\nagent = "director"\n[[resources.group]]\nname = "lb-group"\nmembers = ["lb"]\nclone = true\n`,
    ]) {
      for (const scheduler of ["mh", "sh"]) {
        const r = parse(director(scheduler) + resources);
        expect(r.problems).toEqual([]);
        const groups = groupsOf(r.config!.raw.resources!);
        const group = groups.find((g) => g.members.includes("lb"))!;
        expect(group.clone).toEqual({ max: null, interleave: false });
        const p = plan({
          config: clusterConfigOf(r.config!.raw.resources!),
          self: "alpha",
          nodes: ["alpha", "bravo"].map((name) => ({ name, membership: "up", standby: false, fence: "none" })),
          quorum: true,
          states: { lb: { alpha: "stopped", bravo: "stopped" } },
          failures: [],
          moves: [],
          now: 0,
        });
        expect(p.placement[group.name]).toEqual(["alpha", "bravo"]);
        expect(p.actions.filter((a) => a.kind === "start").map((a) => a.node).sort()).toEqual(["alpha", "bravo"]);
      }
    }
  });

  test("without a director resource every director is active by itself: accepted", () => {
    expect(parse(director("mh")).problems).toEqual([]);
  });

  test("a scheduler that is not a consistent hash is refused, by its path", () => {
    expect(parse(director("wlc")).problems).toEqual(['director.virtual_service.0.scheduler: active-active: scheduler "wlc" sends a flow that the routers move to another director to another real server']);
  });

  test("a director resource that runs on one node is refused", () => {
    expect(parse(director("mh") + `[resources]\n[[resources.resource]]\nname = "lb"\nagent = "director"\n`).problems).toEqual(['resources.resource.0.clone: active-active: the director resource "lb" runs on one node at a time']);
    expect(parse(director("mh") + `[resources]\n[[resources.resource]]\nname = "lb"\nagent = "director"\n[[resources.group]]\nname = "lb-group"\nmembers = ["lb"]\n`).problems).toEqual([
      'resources.group.0.clone: active-active: the director resource "lb" runs on one node at a time (its group "lb-group" is not a clone)',
    ]);
  });

  test("active-passive (the default) keeps any scheduler and a single director resource", () => {
    expect(parse(director("wlc").replace('mode = "active-active"\n', "") + `[resources]\n[[resources.resource]]\nname = "lb"\nagent = "director"\n`).problems).toEqual([]);
  });
});
