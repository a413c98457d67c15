import { configProblems } from "../../config-fixtures.ts";
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../../core/config/load.ts";
import { formatProblem } from "../../../core/config/problems.ts";
import { INFINITY, MINUS_INFINITY } from "../../../modules/resources/model.ts";
import { clusterConfigOf, nodeTraitsOf, parseRule } from "../../../modules/resources/config.ts";
import { MODULES } from "../../../modules/index.ts";
import { clusterInput, initialState } from "../../../modules/resources/engine.ts";
import { paramsOf } from "../../../modules/resources/service.ts";
import { statusOf } from "../../../modules/resources/status.ts";
import { formatStatus } from "../../../cmd/admin.ts";

const NODES = `cluster = "lab"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "198.18.1.11"
attributes = { rack = "a", ssd = true, cores = 16 }
capacity = { cpu = 8, memory = 16384 }

[[nodes]]
name = "bravo"
address = "198.18.1.12"
attributes = { rack = "b" }
capacity = { cpu = 4 }

[[nodes]]
name = "witness"
address = "198.18.1.13"
roles = ["arbiter"]
`;

const resources = (names: string[]): string => names.map((n) => `[[resources.resource]]\nname = "${n}"\nagent = "lsb:${n}"\n`).join("\n");

function load(text: string) {
  const r = parseConfig(text, "tandem.toml", MODULES);
  if (!r.ok) throw new Error(r.problems.map((p) => formatProblem("tandem.toml", p)).join("\n"));
  return r;
}

const problems = (text: string) => configProblems(text, "tandem.toml");

describe("[resources] placement", () => {
  test("colocation scores (INFINITY by default), location rules, placement and utilization become the policy's model; node attributes and capacity its nodes' traits", () => {
    const r = load(`${NODES}
[resources]
placement = "balanced"

${resources(["db", "web", "backup", "cache"])}
[[resources.resource]]
name = "vm"
agent = "lsb:vm"
utilization = { cpu = 2, memory = 2048 }

[[resources.location]]
group = "db"
rule = 'ssd = true and rack != "b"'
score = 200

[[resources.location]]
group = "vm"
rule = "cores >= 8"
score = "-INFINITY"

[[resources.colocation]]
group = "web"
with = "db"

[[resources.colocation]]
group = "backup"
with = "db"
score = "-INFINITY"

[[resources.colocation]]
group = "cache"
with = "web"
score = -50
`);
    const c = clusterConfigOf(r.config.raw.resources!);
    expect(c.placement).toBe("balanced");
    expect(c.colocations).toEqual([
      { group: "web", withGroup: "db", score: INFINITY },
      { group: "backup", withGroup: "db", score: MINUS_INFINITY },
      { group: "cache", withGroup: "web", score: -50 },
    ]);
    expect(c.locations).toEqual([
      { group: "db", rule: [{ attribute: "ssd", op: "eq", value: true }, { attribute: "rack", op: "ne", value: "b" }], score: 200 },
      { group: "vm", rule: [{ attribute: "cores", op: "gte", value: 8 }], score: MINUS_INFINITY },
    ]);
    expect(c.resources.find((x) => x.name === "vm")!.utilization).toEqual({ cpu: 2, memory: 2048 });
    expect(nodeTraitsOf(r.config.raw)).toEqual({
      alpha: { attributes: { rack: "a", ssd: true, cores: 16 }, capacity: { cpu: 8, memory: 16384 } },
      bravo: { attributes: { rack: "b" }, capacity: { cpu: 4 } },
      witness: {},
    });
  });

  test("the coordinator hands the policy each member's attributes and capacity from the config", () => {
    const r = load(`${NODES}\n[resources]\n${resources(["db"])}`);
    const input = clusterInput(initialState(paramsOf(r.config, "alpha")));
    expect(input.nodes.map((n) => [n.name, n.attributes, n.capacity])).toEqual([
      ["alpha", { rack: "a", ssd: true, cores: 16 }, { cpu: 8, memory: 16384 }],
      ["bravo", { rack: "b" }, { cpu: 4 }],
    ]);
  });

  test("tandem status shows each node's attributes, and its capacity with what the resources started there take", () => {
    const r = load(`${NODES}\n[resources]\nplacement = "utilization"\n[[resources.resource]]\nname = "vm"\nagent = "lsb:vm"\nutilization = { cpu = 3 }\n`);
    const s = initialState(paramsOf(r.config, "alpha"));
    s.states = { vm: "started" };
    const status = statusOf(s, 0) as unknown as Parameters<typeof formatStatus>[1];
    expect(status.nodes[0]).toMatchObject({ name: "alpha", attributes: { rack: "a", ssd: true, cores: 16 }, capacity: { cpu: 8, memory: 16384 }, used: { cpu: 3 } });
    const text = formatStatus("alpha", status).split("\n");
    expect(text.slice(1, 6)).toEqual([
      "nodes:",
      "  alpha        up, standby",
      '               rack="a" ssd=true cores=16 used cpu 3/8, memory 0/16384',
      "  bravo        unclean",
      '               rack="b" used cpu 0/4',
    ]);
  });

  test("rules read as tests joined by and; what does not read says why", () => {
    expect(parseRule('#uname = alpha and weight < 2.5')).toEqual([
      { attribute: "#uname", op: "eq", value: "alpha" },
      { attribute: "weight", op: "lt", value: 2.5 },
    ]);
    expect(parseRule("rack")).toBe('"rack" is not ATTRIBUTE OP VALUE (OP one of = != < <= > >=)');
    expect(parseRule('rack > "b"')).toBe('rack > "b": < <= > >= compare numbers');
    expect(parseRule("rack = a b")).toBe('"a b" is not a value (a number, true, false, a word or a "quoted string")');
  });

  test("groups colocated in a loop are accepted (three, or two each with the other): the policy places them", () => {
    const r = load(`${NODES}
[resources]
${resources(["a", "b", "c"])}
[[resources.colocation]]
group = "a"
with = "b"

[[resources.colocation]]
group = "b"
with = "c"

[[resources.colocation]]
group = "c"
with = "a"

[[resources.colocation]]
group = "b"
with = "a"
`);
    expect(r.warnings.filter((w) => w.path[0] === "resources")).toEqual([]);
  });

  test("a loop through an order is refused, naming the loop; so are a rule that does not read, a location with both node and rule or neither, a pair colocated twice or together and apart, a bad score", () => {
    const out = problems(`${NODES}
[resources]
${resources(["web", "db", "cache"])}
[[resources.colocation]]
group = "web"
with = "db"

[[resources.order]]
first = "web"
then = "db"

[[resources.location]]
group = "web"
rule = "ssd"
score = 10

[[resources.location]]
group = "db"
node = "alpha"
rule = "ssd = true"
score = 10

[[resources.location]]
group = "db"
score = 10

[[resources.colocation]]
group = "web"
with = "db"
score = 5

[[resources.colocation]]
group = "db"
with = "web"
score = "-INFINITY"
`);
    expect(out).toContain('tandem.toml:44: resources.location[0].rule: "ssd" is not ATTRIBUTE OP VALUE (OP one of = != < <= > >=); expected tests like `ssd = true and rack != "b"`');
    expect(out.some((p) => p.includes("resources.location[1]: a location names a node or gives a rule"))).toBe(true);
    expect(out.some((p) => p.includes("resources.location[2]: a location names a node or gives a rule"))).toBe(true);
    expect(out.some((p) => p.includes('resources.colocation[1]: "web" is colocated with "db" already (colocation 0); expected one colocation a pair'))).toBe(true);
    expect(out.some((p) => p.includes('resources.colocation[2]: "db" and "web" must run together (INFINITY) and apart (-INFINITY) by colocation 0 and this one'))).toBe(true);
    const loop = problems(`${NODES}
[resources]
${resources(["web", "db", "cache"])}
[[resources.colocation]]
group = "web"
with = "db"

[[resources.colocation]]
group = "cache"
with = "web"

[[resources.order]]
first = "cache"
then = "db"
`);
    expect(loop).toEqual([
      "tandem.toml:42: resources.order[0]: the constraints loop through this order (cache waits for web, web for db, db for cache): none of them would ever start; expected no loop through an order (colocations alone may loop)",
    ]);
    const score = problems(`${NODES}\n[resources]\n${resources(["a", "b"])}\n[[resources.colocation]]\ngroup = "a"\nwith = "b"\nscore = "lots"\n`);
    expect(score.some((p) => p.startsWith("tandem.toml:") && p.includes("resources.colocation[0].score"))).toBe(true);
  });

  test("utilization no member can hold is an error; utilization with placement default, and a rule on an attribute no node has, are warnings", () => {
    const out = problems(`${NODES}
[resources]
placement = "utilization"
[[resources.resource]]
name = "vm"
agent = "lsb:vm"
utilization = { cpu = 2, memory = 32768 }
`);
    expect(out).toEqual(['tandem.toml:26: resources.resource[0].utilization: group "vm" takes cpu 2, memory 32768, more than any member node\'s capacity: it could never run; expected a utilization some node\'s capacity holds']);
    const r = load(`${NODES}
[resources]
[[resources.resource]]
name = "vm"
agent = "lsb:vm"
utilization = { cpu = 2 }

[[resources.location]]
group = "vm"
rule = "rak = \\"a\\""
score = 10
`);
    expect(r.warnings.filter((w) => w.path[0] === "resources").map((w) => `${w.path.join(".")}: ${w.message}${w.hint ? ` (${w.hint})` : ""}`)).toEqual([
      'resources.location.0.rule: no node has the attribute "rak": the rule passes on none (did you mean "rack"?)',
      'resources.placement: resources give a utilization but placement is "default": it is not read (placement = "utilization" or "balanced")',
    ]);
  });
});
