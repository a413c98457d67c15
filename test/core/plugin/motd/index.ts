/** A module the test suite registers: its folder, and one line in the test's module list. */
import type { ModuleDef } from "../../../../core/module.ts";
import { MotdSchema, motdRules } from "./config.ts";
import { MotdService } from "./service.ts";

export const motdModule: ModuleDef = {
  name: "motd",
  after: [],
  selected: (config) => config.raw.motd !== undefined,
  section: (config) => config.raw.motd,
  create: (ctx) => new MotdService(ctx),
  config: { sections: [{ key: "motd", schema: MotdSchema }], rules: motdRules },
  agents: [{ kind: "motd", description: "the message of the day" }],
  panel: {
    title: "Message of the day",
    render: `(status, el) => { el.textContent = status.published ? "published" : "not published"; }`,
  },
};
