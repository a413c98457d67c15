/** The routing module's contract with the runtime: on members with [routing]; after the modules whose view it announces by, so it stops (withdraws) before them. */
import type { ModuleDef } from "../../core/module.ts";
import { RoutingSchema, routingRules, routingSecrets } from "./config.ts";
import { RoutingService, announcedServices } from "./service.ts";

export const routingModule: ModuleDef = {
  name: "routing",
  after: ["heartbeat", "resources", "director"],
  selected: (config, node) => config.raw.routing !== undefined && node.roles.includes("member"),
  section: (config) => ({ routing: config.raw.routing, announced: announcedServices(config) }),
  create: (ctx) => new RoutingService(ctx),
  config: { sections: [{ key: "routing", schema: RoutingSchema }], rules: routingRules, secrets: routingSecrets },
};
