/** The checks' contract with the runtime: the "checks" service, on every member when [[services]] exist. */
import type { ModuleDef } from "../../core/module.ts";
import { ChecksModule } from "./control.ts";

export const checksModule: ModuleDef = {
  name: "checks",
  after: [],
  selected: (config, node) => config.raw.services !== undefined && node.roles.includes("member"),
  section: (config) => config.raw.services,
  create: (ctx) => new ChecksModule(ctx),
};
