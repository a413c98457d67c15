/**
 * A whole member of the cluster as a node of the simulated world: the real
 * heartbeat service (through heartbeat-node.ts) and the real coordinator engine
 * (modules/resources/engine.ts) side by side, wired as the daemon wires them.
 *
 * - After every heartbeat step the membership is read as the heartbeat
 *   service's `snapshot()` gives it (the other members in config order; init
 *   is `unknown`; incarnation; quorum) and fed to the coordinator when it
 *   changed. The coordinator starts with the heartbeat engine.
 * - The coordinator's messages go out on the service's cluster bus (JSON
 *   here; the daemon has its own codec): app frames, fragmented, through the
 *   envelope and replay guard as heartbeats, handed on only from the
 *   sender's incarnation the heartbeat engine knows.
 * - `run` and `cancel` go to the machine's agents, `fence` to the fence
 *   device; both belong to the scenario (they outlive the process) and answer
 *   through `result` and `fenced`. `holds` is told to the heartbeat engine.
 * - The coordinator ticks at its `nextDeadline`. A clean stop (`stop`) feeds
 *   the coordinator `stop`; its `stopped` effect stops the heartbeat (goodbye),
 *   and the process exits. A node without coordinator params is an arbiter:
 *   the heartbeat alone.
 */
import type { MemberStatus } from "../../core/cluster.ts";
import { RESOURCES_CHANNEL } from "../../modules/resources/wire.ts";
import type { Cancel } from "../../core/time.ts";
import type { AgentStatus } from "../../core/agent.ts";
import { initialState, nextDeadline, step, type AdminCommand, type ClusterView, type CoordParams, type Effect, type Input, type Message, type State } from "../../modules/resources/engine.ts";
import { heartbeatNode, type HbNodeOptions, type HbProcess } from "./heartbeat-node.ts";
import type { NodeContext } from "./world.ts";

/** As the heartbeat service maps its statuses for the cluster bus. */
const MEMBER_STATUS: Record<string, MemberStatus> = { up: "up", leaving: "leaving", down: "down", init: "unknown" };

export type RunEffect = Extract<Effect, { type: "run" }>;

/** What the process asks of the machine and the fence device; answers come back through `result` and `fenced`. */
export interface Outside {
  run(proc: ClusterProcess, run: RunEffect): void;
  cancel(proc: ClusterProcess, op: number): void;
  fence(proc: ClusterProcess, node: string): void;
}

export interface CoordStepInfo {
  proc: ClusterProcess;
  /** Virtual time. */
  at: number;
  input: Input;
  effects: readonly Effect[];
}

export interface ClusterNodeOptions {
  hb: Omit<HbNodeOptions, "onSettled" | "onApp" | "holdsResources">;
  /** Null for the arbiter. */
  coord: CoordParams | null;
  outside: Outside;
  /** Called after every coordinator step, before its effects are performed. */
  onCoordStep(info: CoordStepInfo): void;
}

export interface ClusterProcess {
  readonly name: string;
  readonly incarnation: number;
  readonly hb: HbProcess;
  /** Null for the arbiter. */
  readonly coord: State | null;
  onMessage(from: string, payload: unknown, link: string): void;
  /** A clean stop (SIGTERM). */
  stop(): void;
  admin(command: AdminCommand): void;
  result(op: number, status: AgentStatus): void;
  fenced(node: string, ok: boolean): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Boot one process of a cluster node. */
export function clusterNode(ctx: NodeContext, o: ClusterNodeOptions): ClusterProcess {
  let coord: State | null = o.coord ? initialState(o.coord) : null;
  let told = "";
  let tick: Cancel | null = null;

  const view = (): ClusterView => {
    const s = hb.state;
    return {
      peers: s.p.members.filter((m) => m !== s.p.self).map((name) => ({ name, status: MEMBER_STATUS[s.peers[name]!.status]!, incarnation: s.peers[name]!.incarnation })),
      quorate: s.quorate,
    };
  };

  const feed = (input: Input) => {
    const out = step(coord!, input);
    coord = out.state;
    o.onCoordStep({ proc, at: ctx.clock.now(), input, effects: out.effects });
    let holds: boolean | null = null;
    let stopped = false;
    for (const e of out.effects) {
      switch (e.type) {
        case "send":
          hb.sendApp(RESOURCES_CHANNEL, encoder.encode(JSON.stringify(e.message)));
          break;
        case "run":
          o.outside.run(proc, e);
          break;
        case "cancel":
          o.outside.cancel(proc, e.op);
          break;
        case "fence":
          o.outside.fence(proc, e.node);
          break;
        case "holds":
          holds = e.holds;
          break;
        case "stopped":
          stopped = true;
          break;
        case "event":
          ctx.trace(`${e.event} ${JSON.stringify(e.data)}`);
          break;
      }
    }
    tick?.();
    tick = null;
    const at = nextDeadline(coord);
    if (Number.isFinite(at)) tick = ctx.clock.after(Math.max(0, at - hb.now()), () => feed({ type: "tick", now: hb.now(), wall: ctx.clock.wall() }));
    if (holds !== null) hb.holdResources(holds);
    if (stopped) hb.stop();
  };

  const input = <T extends Input["type"]>(type: T, rest: Omit<Extract<Input, { type: T }>, "type" | "now" | "wall">) => {
    if (coord && (coord.phase === "running" || coord.phase === "stopping")) feed({ type, now: hb.now(), wall: ctx.clock.wall(), ...rest } as Input);
  };

  /** The bus's watcher: the coordinator starts with the heartbeat engine, and hears every change of the membership. */
  const watch = () => {
    if (!coord || coord.phase === "stopped") return;
    const v = view();
    const key = JSON.stringify(v);
    if (key === told) return;
    told = key;
    if (coord.phase === "idle") feed({ type: "start", now: hb.now(), wall: ctx.clock.wall(), cluster: v });
    else feed({ type: "membership", now: hb.now(), wall: ctx.clock.wall(), cluster: v });
  };

  const hb = heartbeatNode(ctx, {
    ...o.hb,
    holdsResources: false,
    onSettled: watch,
    onApp: (from, channel, data) => {
      if (channel !== RESOURCES_CHANNEL) return;
      input("message", { from, message: JSON.parse(decoder.decode(data)) as Message });
    },
  });

  const proc: ClusterProcess = {
    name: ctx.name,
    incarnation: ctx.incarnation,
    hb,
    get coord() {
      return coord;
    },
    onMessage: (from, payload, link) => hb.onMessage(from, payload, link),
    stop() {
      if (coord) input("stop", {});
      else hb.stop();
    },
    admin: (command) => input("admin", { command }),
    result: (op, status) => input("result", { op, status, message: "" }),
    fenced: (node, ok) => input("fenced", { node, ok, message: ok ? "" : "the fence device failed" }),
  };
  return proc;
}
