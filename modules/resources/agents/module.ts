/**
 * A resource that is another module of this node (`agent = "director"`): its
 * actions go to that module, found at run time, so the order in which the
 * modules start does not matter. A module that does not run here answers
 * not-installed (a probe then finds it stopped).
 */
import type { Services, ServiceMap } from "../../../core/cluster.ts";
import type { Agent, AgentAction, AgentResult, RunOptions } from "./agent.ts";

/** Agent names that are modules. */
export const MODULE_AGENTS = ["director"] as const satisfies ReadonlyArray<keyof ServiceMap>;
export type ModuleAgentName = (typeof MODULE_AGENTS)[number];

export class ModuleAgent implements Agent {
  constructor(
    readonly name: ModuleAgentName,
    private readonly services: Services,
  ) {}

  async run(action: AgentAction, options: RunOptions): Promise<AgentResult> {
    const host = this.services.get(this.name);
    if (host) return host.run(action, options);
    return { action, status: "not-installed", exitCode: null, durationMs: 0, output: "", outputBytes: 0, message: `the ${this.name} module does not run on this node` };
  }
}
