/** The checks' contract with the runtime: the "checks" service, on every member when [[services]] exist. */
import type { ModuleDef } from "../../core/module.ts";
import { ServicesSchema } from "./config.ts";
import { ChecksModule, type ChecksService } from "./control.ts";

declare module "../../core/cluster.ts" {
  interface ServiceMap {
    /** One checker per (server, check) for every module that subscribes. */
    checks: ChecksService;
  }
}

export const checksModule: ModuleDef = {
  name: "checks",
  after: [],
  selected: (config, node) => config.raw.services !== undefined && node.roles.includes("member"),
  section: (config) => config.raw.services,
  create: (ctx) => new ChecksModule(ctx),
  config: { sections: [{ key: "services", schema: ServicesSchema }] },
  services: ["checks"],
};
