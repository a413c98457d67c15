/**
 * The `volume` resource agent kind: a replicated volume as a promotable
 * clone's instance (DRBD's ocf:linbit:drbd in Pacemaker), run through the
 * `replication` service. `agent = "volume"`, `params = { volume = "data" }`.
 *
 * - start: the replication module runs the volume on every node of its `on`
 *   list already, so a start makes sure this side is secondary (demoted when
 *   it is primary) and answers ok; a node without the volume answers
 *   not-installed (a hard error: the instance runs elsewhere).
 * - stop: the same demotion; the replica keeps running as secondary (a
 *   secondary serves nothing and refuses writes, and keeps its copy current).
 * - promote: refused (failed, with the reason) when this side is not up to
 *   date, or by the volume's engine (the peer is primary, a resync target, a
 *   handshake under way); else primary. While the volume still shows its
 *   peer primary (a fenced peer's link that has not noticed yet), the promote
 *   waits within its timeout for the volume to lose or demote the peer.
 * - demote: secondary; refused while writes are under way (stop what uses
 *   the volume first: the order after promote does).
 * - monitor and probe: promoted (OCF 8) when primary, ok when secondary,
 *   from the volume's last status (the thread reports every STATUS_MS; a
 *   promote or demote answers once the status shows its role). Each answer
 *   carries the promotion score (DRBD's crm-master): up to date and connected
 *   UP_TO_DATE_CONNECTED, up to date and cut off UP_TO_DATE_ALONE (a side that
 *   went on alone), not up to date -INFINITY (never promoted); so is a
 *   secondary whose peer is primary, which the volume refuses to promote:
 *   the manager may not know of a primary an operator made (the first
 *   forced promotion) and would promote here, fail, and hold the failed
 *   promote against this node after the peer is lost. Once the peer demotes
 *   or is lost (its link's silence bound, a fenced peer), the score comes
 *   back with the next monitor. A replication thread that has not answered
 *   for THREAD_SILENT_MS fails them (with how long): its last status says
 *   nothing of the volume now.
 */
import type { AgentAction, AgentResult, AgentStatus, RunOptions } from "../../core/agent.ts";
import type { ModuleAgentHost, Services } from "../../core/cluster.ts";
import type { ModuleContext, ModuleInstance } from "../../core/module.ts";
import type { RawConfig } from "../../core/config/schema.ts";
import type { Finding } from "../../core/config/problems.ts";
import { PING_MS, SILENT_MS, type VolumeStatus } from "./volume.ts";
import { STATUS_MS } from "./service.ts";

export const VOLUME_AGENT_KIND = "volume";
/** Promotion scores, as DRBD's agent gives them: a current, connected replica first; one that went on alone after it. */
export const UP_TO_DATE_CONNECTED = 10_000;
export const UP_TO_DATE_ALONE = 1_000;
/** The resource manager's -INFINITY: never promoted here. */
export const NEVER = -1_000_000;
/** How long an action waits for the replication thread's report: the volume's first (a node just started), a role changed. */
export const STATUS_WAIT_MS = 5_000;
/** A replication thread silent this long (it is asked for its status every STATUS_MS) fails the monitor: it no longer runs the volume. */
export const THREAD_SILENT_MS = 10 * STATUS_MS;
const POLL_MS = 50;

/** The promotion score of a volume in this state: see the file's comment. */
export function promotionScore(v: VolumeStatus): number {
  if (v.disk !== "up-to-date" || (v.role !== "primary" && v.peerPrimary)) return NEVER;
  return v.connection === "connected" || v.connection === "sync-source" ? UP_TO_DATE_CONNECTED : UP_TO_DATE_ALONE;
}

const META_DATA = `<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="volume" version="1.0">
<version>1.0</version>
<longdesc lang="en">A Tandem replicated volume ([[volumes]]) as a promotable clone: primary when promoted, secondary otherwise.</longdesc>
<shortdesc lang="en">Tandem replicated volume</shortdesc>
<parameters>
<parameter name="volume" unique="1" required="1">
<longdesc lang="en">The name of the volume in [[volumes]].</longdesc>
<shortdesc lang="en">Volume</shortdesc>
<content type="string"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="stop" timeout="20s"/>
<action name="promote" timeout="20s"/>
<action name="demote" timeout="20s"/>
<action name="monitor" timeout="20s" interval="10s"/>
<action name="meta-data" timeout="5s"/>
<action name="validate-all" timeout="5s"/>
</actions>
</resource-agent>
`;

/** The agent host the replication module offers for the kind; it reaches the volumes through the `replication` service. */
export function volumeAgentHost(services: Services): ModuleAgentHost {
  return {
    async run(action: AgentAction, options: RunOptions, resource?: { name: string; params: Readonly<Record<string, string>> }): Promise<AgentResult> {
      const started = performance.now();
      const result = (status: AgentStatus, message: string, extra: Partial<AgentResult> = {}): AgentResult => ({
        action,
        status,
        exitCode: null,
        durationMs: Math.round(performance.now() - started),
        output: "",
        outputBytes: 0,
        message,
        ...extra,
      });
      if (action === "meta-data") return result("ok", "", { output: META_DATA, outputBytes: META_DATA.length });
      const name = resource?.params.volume;
      if (name === undefined) return result("not-configured", "params.volume is not given");
      const replication = services.get("replication");
      if (!replication) return result("not-installed", "the replication module does not run on this node");
      const silent = replication.silentMs();
      if ((action === "monitor" || action === "probe") && silent > THREAD_SILENT_MS)
        return result("failed", `the replication thread has not answered for ${Math.round(silent)} ms (bound ${THREAD_SILENT_MS} ms): ${name}'s last status is stale`);
      const waitMs = Math.min(STATUS_WAIT_MS, options.timeoutMs / 2);
      const v = await statusOf(() => replication.volumes(), (x) => x.name === name, waitMs, options.signal);
      if (!v) return result("not-installed", `no volume "${name}" on this node`);
      const scored = (status: AgentStatus, message: string) => result(status, message, { promotionScore: promotionScore(v) });
      /** Hands the command to the volume; null when done and the status shows the role, else the failed result. */
      const command = async (c: "promote" | "demote", role: VolumeStatus["role"]): Promise<AgentResult | null> => {
        const r = await replication.command(name, c);
        if (r.refused !== undefined) return scored("failed", `${c} refused: ${r.refused}`);
        const shown = await statusOf(() => replication.volumes(), (x) => x.name === name && x.role === role, waitMs, options.signal);
        return shown ? null : result("timeout", `${name} did not report ${role} within ${waitMs} ms`);
      };
      const demote = async (): Promise<AgentResult | null> => (v.role === "primary" ? command("demote", "secondary") : null);
      switch (action) {
        case "validate-all":
          return result("ok", "");
        case "start":
          return (await demote()) ?? scored("ok", `${name} is secondary`);
        case "stop":
          return (await demote()) ?? result("ok", `${name} is secondary (the replica keeps running)`);
        case "demote":
          return (await demote()) ?? result("ok", `${name} is secondary`);
        case "promote": {
          if (v.role === "primary") return scored("ok", `${name} is primary already`);
          if (v.disk !== "up-to-date") return scored("failed", `${name} is not up to date here: it is not promoted`);
          // A peer still shown primary may be one the manager has fenced whose link has not yet noticed (a power
          // loss sends no reset): the volume's own view decides, so the promote waits, for the link's silence bound
          // at most, for the link to lose the peer or the peer to demote; a live primary peer keeps it refused.
          if (v.peerPrimary) await statusOf(() => replication.volumes(), (x) => x.name === name && !x.peerPrimary, Math.min(SILENT_MS + PING_MS, options.timeoutMs - waitMs), options.signal);
          return (await command("promote", "primary")) ?? result("ok", `${name} is primary`);
        }
        case "monitor":
        case "probe":
          return scored(v.role === "primary" ? "promoted" : "ok", `${v.role}, ${v.disk}, ${v.connection}`);
      }
    },
  };
}

/** The last status that matches, waiting up to waitMs for one (the replication thread reports every STATUS_MS). */
async function statusOf(volumes: () => VolumeStatus[], match: (v: VolumeStatus) => boolean, waitMs: number, signal?: AbortSignal): Promise<VolumeStatus | undefined> {
  const until = performance.now() + waitMs;
  for (;;) {
    const v = volumes().find(match);
    if (v || performance.now() >= until || signal?.aborted) return v;
    await Bun.sleep(POLL_MS);
  }
}

/** The module instance (just created), made to offer the `volume` agent kind while it runs: from its start to its stop. */
export function withVolumeAgent<T extends ModuleInstance>(ctx: ModuleContext, module: T): T {
  const start = module.start.bind(module);
  const stop = module.stop.bind(module);
  let withdraw: () => void = () => undefined;
  module.start = async (config) => {
    await start(config);
    withdraw = ctx.services.provideAgent(VOLUME_AGENT_KIND, volumeAgentHost(ctx.services));
  };
  module.stop = async () => {
    withdraw();
    await stop();
  };
  return module;
}

/**
 * A `volume` resource names a volume of [[volumes]], and is a promotable clone
 * (a plain resource would start it on one node and never promote it).
 */
export function volumeResourceRules(c: RawConfig): Finding[] {
  const volumes = new Set((c.volumes ?? []).map((v) => v.name));
  const out: Finding[] = [];
  (c.resources?.resource ?? []).forEach((r, i) => {
    if (r.agent !== VOLUME_AGENT_KIND) return;
    const name = r.params.volume;
    if (typeof name === "string" && !volumes.has(name))
      out.push({ severity: "error", path: ["resources", "resource", i, "params", "volume"], message: `no volume named "${name}"`, expected: `a [[volumes]] name${volumes.size ? `: ${[...volumes].join(", ")}` : ""}` });
    if (!r.clone || !r.promotable)
      out.push({ severity: "warning", path: ["resources", "resource", i], message: `the volume resource "${r.name}" is not a promotable clone: it is never promoted`, hint: "clone = true and promotable = true on it" });
  });
  return out;
}
