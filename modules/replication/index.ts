/** Replication's contract with the runtime: on a member that holds a replica of some [[volumes]]. */
import type { ModuleDef } from "../../core/module.ts";
import { VolumesSchema, volumeRules } from "./config.ts";
import { ReplicationModule, type ReplicationService } from "./service.ts";
import { REPLICATION_PANEL } from "./panel.ts";
import { VOLUME_AGENT_KIND, volumeResourceRules, withVolumeAgent } from "./agent.ts";

declare module "../../core/cluster.ts" {
  interface ServiceMap {
    /** This node's replicated volumes: their status, and commands (promote, demote...) with the engine's answer. */
    replication: ReplicationService;
  }
}

export const replicationModule: ModuleDef = {
  name: "replication",
  panel: REPLICATION_PANEL,
  after: [],
  selected: (config, node) => node.roles.includes("member") && (config.raw.volumes ?? []).some((v) => v.on.some((o) => o.node === node.name)),
  section: (config) => config.raw.volumes,
  create: (ctx) => withVolumeAgent(ctx, new ReplicationModule(ctx)),
  config: { sections: [{ key: "volumes", schema: VolumesSchema }], rules: (c) => [...volumeRules(c), ...volumeResourceRules(c)] },
  services: ["replication"],
  agents: [{ kind: VOLUME_AGENT_KIND, description: "a replicated volume, primary where its promotable clone is promoted: params.volume names it", params: ["volume"] }],
};
