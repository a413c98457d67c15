/**
 * The kernel's IPVS sync daemon, through generic netlink: a master on the
 * active director sends its connections, a backup on every director
 * receives them into its own table, so a takeover finds them there. Multicast on the sync
 * interface (the kernel has no unicast), the group and port of the sync
 * section when given, else the kernel's.
 */
import { GenlSocket, resolveFamily } from "../../../core/os/genetlink.ts";
import type { SyncSettings } from "./conntrackd-conf.ts";
import { delDaemon, IP_VS_STATE, IPVS_DAEMON_CMD, IPVS_GENL_NAME, IPVS_GENL_VERSION, newDaemon, parseDaemon, type IpvsCommand, type SyncDaemon } from "./ipvs-msg.ts";
import { NO_IPVS } from "./ipvs.ts";
import type { ConnectionSync, SyncRole } from "./model.ts";

/**
 * The daemons of each role: the primary sends (master) and keeps its backup daemon, so a takeover only starts
 * a master and stops nothing (the kernel runs both at once; a stop waits for the kernel's thread, seconds on a
 * slow machine); a backup only receives.
 */
const STATES_OF: Record<SyncRole, SyncDaemon["state"][]> = { primary: ["backup", "master"], backup: ["backup"] };
const STATE_NAME = new Map<number, SyncDaemon["state"]>([
  [IP_VS_STATE.master, "master"],
  [IP_VS_STATE.backup, "backup"],
]);

export class IpvsSyncDaemon implements ConnectionSync {
  readonly name = "ipvs-sync";
  private role: SyncRole | null = null;

  constructor(private readonly settings: SyncSettings) {}

  private daemon(state: SyncDaemon["state"]): SyncDaemon {
    const s = this.settings;
    return { state, interface: s.interface, syncId: s.id, ...(s.group ? { group: { address: s.group, port: s.port } } : {}) };
  }

  private send(socket: GenlSocket, what: string, c: IpvsCommand): void {
    socket.request(what, resolveFamily(IPVS_GENL_NAME, NO_IPVS), c.cmd, IPVS_GENL_VERSION, c.attrs);
  }

  /** The daemons the kernel runs, by state. */
  private running(socket: GenlSocket): Array<{ state: number; interface: string; syncId: number }> {
    const family = resolveFamily(IPVS_GENL_NAME, NO_IPVS);
    return socket.dump("list the IPVS sync daemons", family, IPVS_DAEMON_CMD.GET_DAEMON, IPVS_GENL_VERSION).flatMap((m) => parseDaemon(m.attrs) ?? []);
  }

  /** Make the kernel run exactly the daemons of `role` (one of a state the role has not, or of other settings, is stopped first). */
  private take(role: SyncRole): void {
    const socket = new GenlSocket("IPVS sync daemon");
    try {
      const wanted = STATES_OF[role].map((state) => this.daemon(state));
      const have = new Set<SyncDaemon["state"]>();
      for (const d of this.running(socket)) {
        const state = STATE_NAME.get(d.state);
        if (!state) continue;
        if (wanted.some((w) => w.state === state && w.interface === d.interface && w.syncId === d.syncId)) have.add(state);
        else this.send(socket, `stop the IPVS ${state} sync daemon`, delDaemon(state));
      }
      for (const w of wanted) if (!have.has(w.state)) this.send(socket, `start the IPVS ${w.state} sync daemon on ${w.interface}`, newDaemon(w));
      this.role = role;
    } finally {
      socket.close();
    }
  }

  async start(role: SyncRole): Promise<void> {
    this.take(role);
  }

  async become(role: SyncRole): Promise<void> {
    this.take(role);
  }

  /** The daemons stopped: this node neither sends nor keeps connections any more. */
  async stop(): Promise<void> {
    if (!this.role) return;
    const socket = new GenlSocket("IPVS sync daemon");
    try {
      for (const state of STATES_OF[this.role]) this.send(socket, `stop the IPVS ${state} sync daemon`, delDaemon(state));
      this.role = null;
    } finally {
      socket.close();
    }
  }

  status(): Record<string, unknown> {
    return { name: this.name, role: this.role, interface: this.settings.interface, syncId: this.settings.id, group: this.settings.group ?? null };
  }
}
