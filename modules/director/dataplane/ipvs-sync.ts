/**
 * The kernel's IPVS sync daemon, through generic netlink: a master on the
 * active director sends its connections, a backup elsewhere receives them
 * into its own table, so a takeover finds them there. Multicast on the sync
 * interface (the kernel has no unicast), the group and port of the sync
 * section when given, else the kernel's.
 */
import { GenlSocket, resolveFamily } from "../../../core/os/genetlink.ts";
import type { SyncSettings } from "./conntrackd-conf.ts";
import { delDaemon, IP_VS_STATE, IPVS_DAEMON_CMD, IPVS_GENL_NAME, IPVS_GENL_VERSION, newDaemon, parseDaemon, type IpvsCommand, type SyncDaemon } from "./ipvs-msg.ts";
import { NO_IPVS } from "./ipvs.ts";
import type { ConnectionSync, SyncRole } from "./model.ts";

const STATE_OF: Record<SyncRole, SyncDaemon["state"]> = { primary: "master", backup: "backup" };

export class IpvsSyncDaemon implements ConnectionSync {
  readonly name = "ipvs-sync";
  private role: SyncRole | null = null;

  constructor(private readonly settings: SyncSettings) {}

  private daemon(role: SyncRole): SyncDaemon {
    const s = this.settings;
    return { state: STATE_OF[role], interface: s.interface, syncId: s.id, ...(s.group ? { group: { address: s.group, port: s.port } } : {}) };
  }

  private send(socket: GenlSocket, what: string, c: IpvsCommand): void {
    socket.request(what, resolveFamily(IPVS_GENL_NAME, NO_IPVS), c.cmd, IPVS_GENL_VERSION, c.attrs);
  }

  /** The daemons the kernel runs, by state. */
  private running(socket: GenlSocket): Array<{ state: number; interface: string; syncId: number }> {
    const family = resolveFamily(IPVS_GENL_NAME, NO_IPVS);
    return socket.dump("list the IPVS sync daemons", family, IPVS_DAEMON_CMD.GET_DAEMON, IPVS_GENL_VERSION).flatMap((m) => parseDaemon(m.attrs) ?? []);
  }

  /** Make the kernel run exactly the daemon of `role` (one of another state, or of other settings, is stopped first). */
  private take(role: SyncRole): void {
    const socket = new GenlSocket("IPVS sync daemon");
    try {
      const want = this.daemon(role);
      let have = false;
      for (const d of this.running(socket)) {
        if (d.state === IP_VS_STATE[want.state] && d.interface === want.interface && d.syncId === want.syncId) have = true;
        else this.send(socket, "stop an IPVS sync daemon", delDaemon(d.state === IP_VS_STATE.master ? "master" : "backup"));
      }
      if (!have) this.send(socket, `start the IPVS ${want.state} sync daemon on ${want.interface}`, newDaemon(want));
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

  /** The daemon stopped: this node neither sends nor keeps connections any more. */
  async stop(): Promise<void> {
    if (!this.role) return;
    const socket = new GenlSocket("IPVS sync daemon");
    try {
      this.send(socket, "stop the IPVS sync daemon", delDaemon(STATE_OF[this.role]));
      this.role = null;
    } finally {
      socket.close();
    }
  }

  status(): Record<string, unknown> {
    return { name: this.name, role: this.role, interface: this.settings.interface, syncId: this.settings.id, group: this.settings.group ?? null };
  }
}
