/**
 * The motd module's instance: it answers its route with the message, and
 * runs the resource agent kind "motd": a resource of that kind publishes the
 * message while it is started (the route says whether it is).
 */
import type { Config } from "../../../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../../../core/module.ts";
import type { RouteSpec } from "../../../../core/api/routes.ts";
import type { AgentAction, AgentResult } from "../../../../core/agent.ts";

export class MotdService implements ModuleInstance {
  private message = "";
  private published = false;
  private withdraw: (() => void) | undefined;

  constructor(private readonly ctx: ModuleContext) {}

  async start(config: Config): Promise<void> {
    this.message = config.raw.motd!.message;
    this.withdraw = this.ctx.services.provideAgent("motd", { run: async (action) => this.run(action) });
  }

  async reload(config: Config): Promise<void> {
    this.message = config.raw.motd!.message;
  }

  async stop(): Promise<void> {
    this.withdraw?.();
    this.published = false;
  }

  status(): Record<string, unknown> {
    return { published: this.published };
  }

  routes(): RouteSpec[] {
    return [
      {
        method: "get",
        path: "/",
        summary: "the message of the day, and whether its resource publishes it",
        produces: "application/json",
        responses: { 200: "the message" },
        handler: (c) => c.json({ message: this.message, published: this.published }),
      },
    ];
  }

  private run(action: AgentAction): AgentResult {
    const done = (status: AgentResult["status"]): AgentResult => ({ action, status, exitCode: null, durationMs: 0, output: "", outputBytes: 0, message: "" });
    if (action === "start") this.published = true;
    if (action === "stop") this.published = false;
    if (action === "monitor" || action === "probe") return done(this.published ? "ok" : "not-running");
    return done("ok");
  }
}
