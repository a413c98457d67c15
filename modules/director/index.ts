/** The director's contract with the runtime. */
import type { ModuleDef } from "../../core/module.ts";
import { DirectorSchema, directorRules } from "./config.ts";
import { DirectorService, type DirectorWatch } from "./service.ts";
import { DIRECTOR_PANEL } from "./panel.ts";

declare module "../../core/cluster.ts" {
  interface ServiceMap {
    /** Where the director is active and which virtual services are up (what the routing module announces by). */
    director: DirectorWatch;
  }
}

export const directorModule: ModuleDef = {
  name: "director",
  panel: DIRECTOR_PANEL,
  after: ["checks"],
  selected: (config, node) => config.raw.director !== undefined && node.roles.includes("member"),
  section: (config) => ({ director: config.raw.director, services: config.raw.services, managed: (config.raw.resources?.resource ?? []).some((r) => r.agent === "director") }),
  create: (ctx) => new DirectorService(ctx),
  config: {
    sections: [{ key: "director", schema: DirectorSchema }],
    rules: directorRules,
  },
  agents: [{ kind: "director", description: "the director module" }],
  services: ["director"],
};
