/** The resource manager's contract with the runtime. */
import type { ModuleDef } from "../../core/module.ts";
import { resourcesRules, resourcesSchema, resourcesSecrets } from "./config.ts";
import { RESOURCES_CHANNEL } from "./wire.ts";
import { RESOURCES_PANEL } from "./panel.ts";
import { ResourcesService } from "./service.ts";

export const resourcesModule: ModuleDef = {
  name: "resources",
  after: ["heartbeat"],
  selected: (config, node) => config.raw.resources !== undefined && node.roles.includes("member"),
  section: (config) => ({ resources: config.raw.resources, members: config.nodes.filter((n) => n.roles.includes("member")).map((n) => n.name) }),
  create: (ctx) => new ResourcesService(ctx),
  config: { sections: [{ key: "resources", schema: resourcesSchema }], rules: resourcesRules, secrets: resourcesSecrets },
  channels: [RESOURCES_CHANNEL],
  panel: RESOURCES_PANEL,
};
