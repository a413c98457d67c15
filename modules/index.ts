/**
 * The composition root: every module the runtime can start, in registry
 * order (ties in dependency order keep this order; the config's sections and
 * rules follow it too). Adding a module is one line here and its own folder.
 */
import type { ModuleDef } from "../core/module.ts";
import { apiModule, type Listen } from "../core/api/server.ts";
import { heartbeatModule } from "./heartbeat/index.ts";
import { resourcesModule } from "./resources/index.ts";
import { directorModule } from "./director/index.ts";
import { checksModule } from "./checks/index.ts";
import { watchdogModule } from "./watchdog/index.ts";
import { proxyModule } from "./proxy/index.ts";
import { replicationModule } from "./replication/index.ts";
import { routingModule } from "./routing/index.ts";

export const MODULES: readonly ModuleDef[] = [heartbeatModule, resourcesModule, checksModule, directorModule, proxyModule, watchdogModule, replicationModule, routingModule];

/** What `tandem run` starts: these modules and the API, whose dashboard shows their panels. */
export function moduleDefs(version: string, apiOverride?: Listen, modules: readonly ModuleDef[] = MODULES): ModuleDef[] {
  return [...modules, apiModule(version, apiOverride, modules)];
}
