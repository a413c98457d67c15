/** The resource manager's contract with the runtime. */
import type { ModuleDef } from "../../core/module.ts";
import { resourcesRules, resourcesSchema, resourcesSecrets } from "./config.ts";
import { RESOURCES_CHANNEL } from "./wire.ts";
import { RESOURCES_PANEL } from "./panel.ts";
import { ResourcesService, type ResourceHolding } from "./service.ts";

declare module "../../core/cluster.ts" {
  interface ServiceMap {
    /** Whether this node holds exclusive resources (the watchdog withholds its pets without quorum while it does). */
    resources: ResourceHolding;
  }
}

export const resourcesModule: ModuleDef = {
  name: "resources",
  // With a [watchdog], resources run only while it is armed: its peers may count this node fenced by it.
  after: ["heartbeat", "watchdog"],
  selected: (config, node) => config.raw.resources !== undefined && node.roles.includes("member"),
  section: (config) => ({ resources: config.raw.resources, members: config.nodes.filter((n) => n.roles.includes("member")).map((n) => n.name) }),
  create: (ctx) => new ResourcesService(ctx),
  config: { sections: [{ key: "resources", schema: resourcesSchema }], rules: resourcesRules, secrets: resourcesSecrets },
  services: ["resources"],
  channels: [RESOURCES_CHANNEL],
  panel: RESOURCES_PANEL,
};
