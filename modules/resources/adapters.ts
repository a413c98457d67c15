/**
 * What the resource manager acts on the machine through: each resource's
 * agent and each fence device, built from their config tables. The daemon
 * builds the real ones (`realAgents`); test/sim passes its own in the context's
 * adapters, agents on virtual time whose work it can check. The field joins
 * core's Adapters by declaration merging: core imports nothing from modules.
 */
import type { Services } from "../../core/cluster.ts";
import type { Clock } from "../../core/time.ts";
import { createAgent, type ManagedAgent } from "./agents/index.ts";
import type { FenceDeviceRaw, ResourceRaw } from "./config.ts";
import { createFenceDevice } from "./fencing/config.ts";
import type { FenceDevice } from "./fencing/device.ts";

export interface AgentAdapters {
  /** The agent of one resource; throws a RangeError for params its kind cannot take. */
  agent(r: ResourceRaw, services: Services): ManagedAgent;
  /** One fence device; `self` is the node it runs on, which it never fences; `services` and `clock` are its node's (a watchdog device's wait). */
  fenceDevice(d: FenceDeviceRaw, self: string, services: Services, clock: Clock): FenceDevice;
}

declare module "../../core/adapters.ts" {
  interface Adapters {
    /** The resource manager's agents and fence devices (modules/resources/adapters.ts); the real ones when absent. */
    agents?: AgentAdapters;
  }
}

export const realAgents: AgentAdapters = {
  agent: createAgent,
  fenceDevice: (d, self, services, clock) => createFenceDevice(d, { self, clock, watchdogTimeoutMs: () => services.get("watchdog")?.timeoutMs() }),
};
