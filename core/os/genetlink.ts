/**
 * Generic netlink (NETLINK_GENERIC, <linux/genetlink.h>) over the exchange of
 * netlink.ts: the same bounded wait, bounded buffer and OsError with the
 * kernel's errno and extended ack. A family (IPVS, ...) is found by name
 * through the controller, "nlctrl", whose id is fixed; each message is a
 * genlmsghdr (command, version) followed by attributes (nlattr.ts).
 */
import { ERRNO, OsError } from "./libc.ts";
import { NETLINK_GENERIC, NLM_F_DUMP, NetlinkSocket, netlinkExchange } from "./netlink.ts";
import { decodeNlas, encodeNlas, nlaMap, nlaString, readU16, type Nla, type RawNla } from "./nlattr.ts";

/** The controller's family id (GENL_ID_CTRL = NLMSG_MIN_TYPE). */
export const GENL_ID_CTRL = 16;
export const GENL_CTRL_NAME = "nlctrl";
const CTRL_VERSION = 1;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
/** A family name is at most GENL_NAMSIZ - 1 bytes. */
const GENL_NAMSIZ = 16;

const NLMSG_HDR_BYTES = 16;
/** struct genlmsghdr: cmd (u8), version (u8), reserved (u16). */
export const GENL_HDR_BYTES = 4;
const GENLMSG = { cmd: 0, version: 1 } as const;

/** One message of a family: its command and attributes. */
export interface GenlMessage {
  cmd: number;
  attrs: RawNla[];
}

/** The payload after the netlink header: genlmsghdr, then the attributes. Pure. */
export function genlPayload(cmd: number, version: number, attrs: Nla[]): Uint8Array {
  const encoded = encodeNlas(attrs);
  const out = new Uint8Array(GENL_HDR_BYTES + encoded.length);
  out[GENLMSG.cmd] = cmd;
  out[GENLMSG.version] = version;
  out.set(encoded, GENL_HDR_BYTES);
  return out;
}

/** A reply message (netlink header included) as command and attributes; undefined when too short to be one. Never throws. */
export function parseGenl(msg: Uint8Array): GenlMessage | undefined {
  if (msg.length < NLMSG_HDR_BYTES + GENL_HDR_BYTES) return undefined;
  return { cmd: msg[NLMSG_HDR_BYTES + GENLMSG.cmd]!, attrs: decodeNlas(msg.subarray(NLMSG_HDR_BYTES + GENL_HDR_BYTES)).attrs };
}

/** A generic netlink socket kept open for a run of commands (see NetlinkSocket); close it when done. */
export class GenlSocket {
  private readonly socket: NetlinkSocket;

  constructor(what: string) {
    this.socket = new NetlinkSocket(NETLINK_GENERIC, what);
  }

  /** Sends one command to family `family` and waits for the kernel's ack; OsError when it refuses. */
  request(what: string, family: number, cmd: number, version: number, attrs: Nla[], flags = 0): void {
    this.socket.exchange(what, family, flags, genlPayload(cmd, version, attrs));
  }

  /** Sends one command that the kernel answers (a get of one object): its reply messages, then its ack; OsError when it refuses. */
  query(what: string, family: number, cmd: number, version: number, attrs: Nla[]): GenlMessage[] {
    const out: GenlMessage[] = [];
    this.socket.exchange(what, family, 0, genlPayload(cmd, version, attrs), (msg) => {
      const m = parseGenl(msg);
      if (m) out.push(m);
    });
    return out;
  }

  /** Dumps with one command: every message of the answer, in order (at most the exchange's bound on messages). */
  dump(what: string, family: number, cmd: number, version: number, attrs: Nla[] = []): GenlMessage[] {
    const out: GenlMessage[] = [];
    this.socket.exchange(what, family, NLM_F_DUMP, genlPayload(cmd, version, attrs), (msg) => {
      const m = parseGenl(msg);
      if (m) out.push(m);
    });
    return out;
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * The id of generic netlink family `name`, from the controller. A family the
 * kernel does not have is OsError ENOENT, with `missing` as its detail when
 * given ("the kernel has no IPVS (load ip_vs)").
 */
export function resolveFamily(name: string, missing?: string): number {
  const what = `resolve generic netlink family ${name}`;
  if (name.length === 0 || new TextEncoder().encode(name).length >= GENL_NAMSIZ) throw new OsError(what, ERRNO.EINVAL, `"${name}" is not a family name`);
  let id: number | undefined;
  try {
    netlinkExchange(NETLINK_GENERIC, what, GENL_ID_CTRL, 0, genlPayload(CTRL_CMD_GETFAMILY, CTRL_VERSION, [nlaString(CTRL_ATTR_FAMILY_NAME, name)]), (msg) => {
      id ??= readU16(nlaMap(parseGenl(msg)?.attrs ?? []).get(CTRL_ATTR_FAMILY_ID));
    });
  } catch (err) {
    if (err instanceof OsError && err.errno === ERRNO.ENOENT) throw new OsError(what, ERRNO.ENOENT, missing ?? `the kernel has no generic netlink family ${name}`);
    throw err;
  }
  if (id === undefined) throw new OsError(what, ERRNO.EPROTO, "the controller's answer has no family id");
  return id;
}
