/**
 * A resource that is another module of this node (`agent = "director"`, or
 * any kind a module's descriptor registers): its actions go to that module,
 * found at run time, so the order in which the modules start does not matter.
 * A module that does not run here answers not-installed (a probe then finds
 * it stopped).
 */
import type { Services } from "../../../core/cluster.ts";
import type { Agent, AgentAction, AgentResult, RunOptions } from "../../../core/agent.ts";

export class ModuleAgent implements Agent {
  constructor(
    readonly name: string,
    private readonly services: Services,
    private readonly resource: { name: string; params: Readonly<Record<string, string>> },
  ) {}

  async run(action: AgentAction, options: RunOptions): Promise<AgentResult> {
    const host = this.services.agent(this.name);
    if (host) return host.run(action, options, this.resource);
    return { action, status: "not-installed", exitCode: null, durationMs: 0, output: "", outputBytes: 0, message: `the ${this.name} module does not run on this node` };
  }
}
