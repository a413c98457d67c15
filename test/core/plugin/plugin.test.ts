/**
 * Adding a module is its folder plus one line: the motd module (./motd/) is
 * added to the list modules/index.ts gives, and nothing else changes. Its
 * config section is checked with the usual problems, the runtime starts it and
 * serves its route, its panel is on the dashboard, and the resource manager
 * runs a resource of its agent kind.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parseConfig } from "../../../core/config/load.ts";
import { formatProblem } from "../../../core/config/problems.ts";
import { configSchema } from "../../../core/config/schema.ts";
import { Runtime } from "../../../core/runtime/runtime.ts";
import { EventBus } from "../../../core/events.ts";
import { Metrics } from "../../../core/metrics.ts";
import { createLogger } from "../../../core/log.ts";
import { realClock } from "../../../core/time.ts";
import { cryptoRandom } from "../../../core/random.ts";
import { MODULES, moduleDefs } from "../../../modules/index.ts";
import { freePort, tempDir, waitFor } from "../../helpers.ts";
import { checkModules, type ModuleDef } from "../../../core/module.ts";
import { motdModule } from "./motd/index.ts";

const WITH_MOTD: ModuleDef[] = [...MODULES, motdModule];

const BASE = `cluster = "plug"
key_file = "k"
[[nodes]]
name = "solo"
address = "127.0.0.1"
`;

const problems = (text: string, modules: readonly ModuleDef[] = WITH_MOTD) => {
  const r = parseConfig(text, "t.toml", modules);
  return r.ok ? [] : r.problems.map((p) => formatProblem("t.toml", p));
};

describe("a module the test suite registers", () => {
  test("its section is part of the schema and its rule runs, with the usual problems", () => {
    expect(problems(`${BASE}[motd]\nmessage = "hello"\n`)).toEqual([]);
    expect(problems(`${BASE}[motd]\nmessage = 3\n`)).toEqual(['t.toml:7: motd.message: invalid value; expected any text; found 3']);
    expect(problems(`${BASE}[motd]\nmessage = "hello"\nmax_lenght = 4\n`)).toEqual([
      't.toml:8: motd.max_lenght: unknown key "max_lenght"; expected one of message, max_length (did you mean "max_length"?)',
    ]);
    expect(problems(`${BASE}[motd]\nmessage = "hello"\nmax_length = 4\n`)).toEqual(["t.toml:7: motd.message: the message is 5 characters; expected at most max_length (4)"]);
    expect(configSchema(WITH_MOTD).properties.motd).toBeDefined();
  });

  test("without it in the list, its section is an unknown key and its agent kind is no kind", () => {
    expect(problems(`${BASE}[motd]\nmessage = "hello"\n`, MODULES)[0]).toStartWith('t.toml:6: motd: unknown key "motd"');
    expect(problems(`${BASE}[resources]\n[[resources.resource]]\nname = "m"\nagent = "motd"\n`, MODULES)[0]).toStartWith("t.toml:9: resources.resource[0].agent: invalid value");
    expect(problems(`${BASE}[resources]\n[[resources.resource]]\nname = "m"\nagent = "motd"\n`)).toEqual([]);
  });

  test("the composition refuses a module that claims what another has: a config key, an agent kind, a service, a bus channel", () => {
    const again = (over: Partial<ModuleDef>): ModuleDef[] => [...WITH_MOTD, { ...motdModule, name: "motd-again", config: undefined, agents: undefined, ...over }];
    expect(() => configSchema(again({ config: motdModule.config }))).toThrow('config key "motd" is claimed twice (module motd-again)');
    expect(() => configSchema(again({ agents: [{ kind: "director", description: "another" }] }))).toThrow('agent kind "director" is registered by two modules');
    expect(() => checkModules(again({ services: ["cluster"] }))).toThrow("service cluster is claimed by modules heartbeat and motd-again");
    expect(() => checkModules(again({ channels: [1] }))).toThrow("bus channel 1 is claimed by modules resources and motd-again");
    expect(() => checkModules(WITH_MOTD)).not.toThrow();
  });

  const tmp = tempDir("plugin");
  afterAll(() => tmp.cleanup());

  test("the runtime starts it, its route answers over HTTP, its panel is on the dashboard, and the resource manager runs its agent kind", async () => {
    const port = await freePort();
    const file = join(tmp.dir, "tandem.toml");
    const text = `${BASE}[motd]\nmessage = "hello from a plugged-in module"\n[resources]\n[[resources.resource]]\nname = "greeting"\nagent = "motd"\nmonitor_interval = "100ms"\n`;
    await Bun.write(file, text);
    const defs = moduleDefs("test", { hostname: "127.0.0.1", port }, WITH_MOTD);
    const loaded = parseConfig(text, file, defs);
    if (!loaded.ok) throw new Error(loaded.problems.map((p) => formatProblem(file, p)).join("\n"));
    const events = new EventBus("solo", realClock.wall);
    let exited: number | undefined;
    const runtime = new Runtime({
      defs,
      config: loaded.config,
      node: loaded.config.nodes[0]!,
      clock: realClock,
      random: cryptoRandom(),
      log: createLogger({ level: "error", node: "solo" }),
      events,
      metrics: new Metrics(),
      version: "test",
      onExit: (code) => void (exited = code),
    });
    runtime.start();
    try {
      const base = `http://127.0.0.1:${port}`;
      const motd = await waitFor("the motd route", async () => {
        const r = await fetch(`${base}/v1/motd/`).catch(() => undefined);
        return r?.ok ? ((await r.json()) as { message: string; published: boolean }) : undefined;
      });
      expect(motd.message).toBe("hello from a plugged-in module");
      await waitFor("the motd resource started by the resource manager", async () => {
        const r = (await (await fetch(`${base}/v1/motd/`)).json()) as { published: boolean };
        return r.published || undefined;
      });
      const resources = (await (await fetch(`${base}/v1/resources/`)).json()) as { resources: Record<string, { agent: string; states: Record<string, string> }> };
      expect(resources.resources.greeting).toMatchObject({ agent: "motd", states: { solo: "started" } });
      const status = (await (await fetch(`${base}/v1/status`)).json()) as { modules: Record<string, { state: string; published?: boolean }> };
      expect(status.modules.motd).toMatchObject({ state: "running", published: true });
      const page = await (await fetch(`${base}/`)).text();
      expect(page).toContain('<section id="panel-motd" hidden>');
      expect(page).toContain("<h2>Message of the day</h2>");
    } finally {
      runtime.stop();
      await waitFor("the runtime to exit", () => (exited === undefined ? undefined : exited));
    }
    expect(exited).toBe(0);
  }, 30_000);
});
