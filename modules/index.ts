/**
 * Every module the runtime can start, in registry order (ties in dependency
 * order keep this order). Adding a module is one line here and its own folder.
 */
import type { ModuleDef } from "../core/module.ts";
import { apiModule, type Listen } from "../core/api/server.ts";
import { heartbeatModule } from "./heartbeat/index.ts";
import { resourcesModule } from "./resources/index.ts";
import { directorModule } from "./director/index.ts";
import { checksModule } from "./checks/index.ts";

export function moduleDefs(version: string, apiOverride?: Listen): ModuleDef[] {
  return [heartbeatModule, checksModule, directorModule, resourcesModule, apiModule(version, apiOverride)];
}
