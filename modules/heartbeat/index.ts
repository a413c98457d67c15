/** The heartbeat module's contract with the runtime. */
import { createHash } from "node:crypto";
import type { ModuleDef } from "../../core/module.ts";
import { HeartbeatSchema, heartbeatRules } from "./config.ts";
import { HeartbeatService } from "./service.ts";
import { HEARTBEAT_PANEL } from "./panel.ts";

declare module "../../core/cluster.ts" {
  interface ServiceMap {
    /** Membership, quorum and message channels on the heartbeat's links. */
    cluster: ClusterBus;
  }
}

export const heartbeatModule: ModuleDef = {
  name: "heartbeat",
  panel: HEARTBEAT_PANEL,
  after: [],
  selected: (config) => config.raw.heartbeat !== undefined && config.nodes.length > 1,
  section: (config) => ({
    heartbeat: config.raw.heartbeat,
    cluster: config.cluster,
    nodes: config.nodes,
    // Peers compare config hashes: a change anywhere is news to the heartbeat.
    config: config.hash,
    keys: createHash("sha256")
      .update(JSON.stringify([...(config.keys?.keys ?? [])].map(([id, k]) => [id, Buffer.from(k).toString("base64")])))
      .update(String(config.keys?.active))
      .digest("hex"),
  }),
  create: (ctx) => new HeartbeatService(ctx),
  config: { sections: [{ key: "heartbeat", schema: HeartbeatSchema }], rules: heartbeatRules },
  services: ["cluster"],
};
