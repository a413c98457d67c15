/** The watchdog's contract with the runtime: on every member when [watchdog] is set; the "watchdog" service. */
import type { ModuleDef } from "../../core/module.ts";
import { WatchdogSchema, watchdogRules } from "./config.ts";
import { WatchdogModule, type WatchdogService } from "./service.ts";

declare module "../../core/cluster.ts" {
  interface ServiceMap {
    /** The armed watchdog's timeout (the resource manager's watchdog fence waits twice it). */
    watchdog: WatchdogService;
  }
}

export const watchdogModule: ModuleDef = {
  name: "watchdog",
  after: [],
  selected: (config, node) => config.raw.watchdog !== undefined && node.roles.includes("member"),
  section: (config) => config.raw.watchdog,
  create: (ctx) => new WatchdogModule(ctx),
  config: { sections: [{ key: "watchdog", schema: WatchdogSchema }], rules: watchdogRules },
  services: ["watchdog"],
};
