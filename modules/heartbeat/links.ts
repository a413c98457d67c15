/**
 * The heartbeat's transport: one UDP socket per configured link, frames out to
 * peers and frames in with the link they arrived on. No membership logic: the
 * bytes are opaque here.
 *
 * Each link's socket is bound to the one address its datagrams arrive at, all
 * on the heartbeat port: a ucast link to this node's address on the link, an
 * mcast link to its group (joined on this node's address on the link), a bcast
 * link to its interface's broadcast address. Linux delivers a datagram only to
 * sockets bound to its destination address (or to the wildcard, which is never
 * used here), so every datagram reaches exactly the socket of its link, and
 * sockets bound to different addresses share a port without SO_REUSEADDR.
 * Without it, a second tandem on the same node fails to bind instead of
 * silently taking half the frames. Two links that would bind the same address
 * are refused by the config (heartbeatProblems).
 *
 * The sockets come from a DatagramTransport (core/adapters.ts: Bun's UDP in
 * the daemon, the simulated network in test/sim): bind failures reject, send
 * failures throw at once (so a down interface is seen on the send that meets
 * it), and ICMP errors from peers are counted.
 */
import type { Cancel, Clock } from "../../core/time.ts";
import { udpTransport, type DatagramSocket, type DatagramTransport, type InterfaceTable } from "../../core/adapters.ts";
import { formatIpv4, parseIpv4 } from "../../core/os/ip.ts";
import { linkAddress, type HeartbeatRaw, type LinkRaw } from "./config.ts";

/** Largest datagram accepted or sent: a frame fits a 1500-byte MTU (the envelope's MAX_FRAME). */
export const MAX_DATAGRAM = 1400;
/** How often a link whose socket could not be opened tries again. */
export const REOPEN_MS = 1000;

interface NodeLike {
  name: string;
  address: string;
}

/** Where a link's socket is bound and where its frames go, on this node. */
export interface Endpoint {
  /** The address the socket is bound to: this node's link address, the group, or the broadcast address. */
  bind: string;
  /** This node's own address on the link; datagrams from it are this node's own (looped-back broadcasts). */
  local: string;
  /** ucast: each peer's address on the link. mcast, bcast: empty (frames go to `destination`). */
  peers: ReadonlyMap<string, string>;
  /** mcast: the group; bcast: the broadcast address; ucast: undefined. */
  destination?: string;
}

export type EndpointResult = { ok: true; endpoint: Endpoint } | { ok: false; error: string };

/** The IPv4 broadcast address of address/netmask: the host bits all ones. */
export function broadcastAddress(address: string, netmask: string): string {
  const a = parseIpv4(address)!;
  const m = parseIpv4(netmask)!;
  return formatIpv4(a - (a % (2 ** 32 - m)) + (2 ** 32 - m - 1));
}

/**
 * Pure: where link `link` binds and sends on node `self`, given the machine's
 * interfaces (only bcast reads them: the broadcast address comes from the
 * interface's address and netmask; the address equal to this node's link
 * address if the interface has it, else its first IPv4 address).
 */
export function endpointOf(link: LinkRaw, nodes: readonly NodeLike[], self: NodeLike, interfaces: InterfaceTable): EndpointResult {
  const local = linkAddress(link, self);
  if (link.kind === "ucast") {
    const peers = new Map(nodes.filter((n) => n.name !== self.name).map((n) => [n.name, linkAddress(link, n)]));
    return { ok: true, endpoint: { bind: local, local, peers } };
  }
  if (link.kind === "mcast") return { ok: true, endpoint: { bind: link.group!, local, peers: new Map(), destination: link.group! } };
  const name = link.interface!;
  const v4 = (interfaces[name] ?? []).filter((a) => a.family === "IPv4");
  const own = v4.find((a) => a.address === local) ?? v4[0];
  if (!own) return { ok: false, error: interfaces[name] ? `interface ${name} has no IPv4 address` : `no interface ${name} (or it is down)` };
  const destination = broadcastAddress(own.address, own.netmask);
  return { ok: true, endpoint: { bind: destination, local: own.address, peers: new Map(), destination } };
}

/** Per link, since the links were opened. */
export interface LinkCounters {
  /** Datagrams handed to the kernel. */
  sent: number;
  /** Sends that failed (interface down, address gone, link not open) or that the kernel had no room for. */
  sendErrors: number;
  /** Datagrams delivered to onFrame. */
  received: number;
  /** Datagrams over MAX_DATAGRAM, dropped. */
  oversized: number;
  /** Datagrams from this node's own address (its broadcasts come back), dropped. */
  own: number;
  /** Errors the kernel reported after a send: ICMP port or host unreachable from a peer. */
  unreachable: number;
  /** Times onFrame threw; the datagram is dropped, the link carries on. */
  handlerErrors: number;
}

export type LinkState = { up: true } | { up: false; error: string };

export interface LinkStatus {
  name: string;
  kind: LinkRaw["kind"];
  /** address:port the socket is bound to; null while it is not open. */
  bound: string | null;
  state: LinkState;
  counters: LinkCounters;
}

export interface LinksOptions {
  /** The [heartbeat] section. */
  heartbeat: HeartbeatRaw;
  nodes: readonly NodeLike[];
  /** This node. */
  self: NodeLike;
  clock: Clock;
  /** The sockets' maker; Bun's UDP when absent. */
  transport?: DatagramTransport;
  /** A datagram of at most MAX_DATAGRAM bytes arrived on link `link` (an index into heartbeat.links) from `from`. */
  onFrame(bytes: Uint8Array, link: number, from: string): void;
  /** A link went down (its socket cannot be opened, or a send failed) or up again; called on changes only. */
  onLinkState?(link: number, state: LinkState): void;
  /** A datagram was dropped before onFrame: too large, or this node's own (a broadcast coming back). */
  onDrop?(link: number, reason: "oversized" | "own"): void;
}

interface LinkSlot {
  readonly config: LinkRaw;
  socket?: DatagramSocket;
  endpoint?: Endpoint;
  /** Undefined until the first attempt to open has ended. */
  state?: LinkState;
  counters: LinkCounters;
  retry?: Cancel;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The sockets of every heartbeat link of this node. */
export class Links {
  private readonly slots: LinkSlot[];
  private readonly port: number;
  private closed = false;

  constructor(private readonly options: LinksOptions) {
    this.port = options.heartbeat.port;
    this.slots = options.heartbeat.links.map((config) => ({
      config,
      counters: { sent: 0, sendErrors: 0, received: 0, oversized: 0, own: 0, unreachable: 0, handlerErrors: 0 },
    }));
  }

  /**
   * Open every link's socket. Resolves once each link has tried once; never
   * rejects for a link that cannot open: that link reports its state and tries
   * again every REOPEN_MS until it opens or the links are closed.
   */
  async start(): Promise<void> {
    await Promise.all(this.slots.map((_, i) => this.open(i)));
  }

  /**
   * Send one datagram on a link: ucast to `to`'s address on it, or to every
   * other node's for "all"; mcast and bcast to the group or broadcast address
   * whatever `to` is (every node on the link hears it). Never throws for the
   * network: a failed send is counted and may turn the link's state down.
   * Throws for the caller's mistakes: no such link or node, more than MAX_DATAGRAM bytes.
   */
  send(link: number, to: string | "all", bytes: Uint8Array): void {
    const slot = this.slots[link];
    if (!slot) throw new RangeError(`no link ${link}; there are ${this.slots.length}`);
    if (bytes.length > MAX_DATAGRAM) throw new RangeError(`a datagram of ${bytes.length} bytes is over MAX_DATAGRAM (${MAX_DATAGRAM})`);
    if (to !== "all" && (to === this.options.self.name || !this.options.nodes.some((n) => n.name === to)))
      throw new RangeError(`"${to}" is not a peer of ${this.options.self.name}`);
    if (this.closed) return;
    const { socket, endpoint } = slot;
    if (!socket || !endpoint) {
      slot.counters.sendErrors++;
      return;
    }
    const targets = endpoint.destination !== undefined ? [endpoint.destination] : to === "all" ? [...endpoint.peers.values()] : [endpoint.peers.get(to)!];
    for (const target of targets) {
      try {
        if (socket.send(bytes, this.port, target)) {
          slot.counters.sent++;
          this.setState(link, { up: true });
        } else slot.counters.sendErrors++;
      } catch (e) {
        // A refusal is an earlier datagram's ICMP port unreachable, reported on this send: the peer's
        // process is gone, which the heartbeat sees; the link itself sends, and stays up.
        if ((e as { code?: string }).code === "ECONNREFUSED") slot.counters.unreachable++;
        else {
          slot.counters.sendErrors++;
          this.setState(link, { up: false, error: `send to ${target}: ${errorText(e)}` });
        }
      }
    }
  }

  status(): LinkStatus[] {
    return this.slots.map((s) => ({
      name: s.config.name,
      kind: s.config.kind,
      bound: s.socket && s.endpoint ? `${s.endpoint.bind}:${this.port}` : null,
      state: s.state ?? { up: false, error: "opening" },
      counters: { ...s.counters },
    }));
  }

  /** Close every socket and stop retrying. Idempotent. */
  close(): void {
    this.closed = true;
    for (const slot of this.slots) {
      slot.retry?.();
      slot.retry = undefined;
      slot.socket?.close();
      slot.socket = undefined;
    }
  }

  private async open(i: number): Promise<void> {
    const slot = this.slots[i]!;
    slot.retry = undefined;
    const { nodes, self } = this.options;
    const transport = this.options.transport ?? udpTransport;
    const planned = endpointOf(slot.config, nodes, self, transport.interfaces());
    let socket: DatagramSocket | undefined;
    try {
      if (!planned.ok) throw new Error(planned.error);
      const endpoint = planned.endpoint;
      const kind = slot.config.kind;
      socket = await transport.bind({
        address: endpoint.bind,
        port: this.port,
        ...(kind === "mcast" ? { multicast: { group: endpoint.destination!, local: endpoint.local, ttl: slot.config.ttl } } : {}),
        ...(kind === "bcast" ? { broadcast: true } : {}),
        onData: (bytes, from) => this.receive(i, bytes, from),
        onError: () => {
          slot.counters.unreachable++;
        },
      });
      if (this.closed) return socket.close();
      slot.socket = socket;
      slot.endpoint = endpoint;
      this.setState(i, { up: true });
    } catch (e) {
      socket?.close();
      if (this.closed) return;
      const where = planned.ok ? ` on ${planned.endpoint.bind}:${this.port}` : "";
      this.setState(i, { up: false, error: `cannot open${where}: ${errorText(e)}` });
      slot.retry = this.options.clock.after(REOPEN_MS, () => void this.open(i));
    }
  }

  private receive(i: number, bytes: Uint8Array, from: string): void {
    const slot = this.slots[i]!;
    if (bytes.length > MAX_DATAGRAM) {
      slot.counters.oversized++;
      return this.options.onDrop?.(i, "oversized");
    }
    if (from === slot.endpoint?.local) {
      slot.counters.own++;
      return this.options.onDrop?.(i, "own");
    }
    slot.counters.received++;
    try {
      this.options.onFrame(bytes, i, from);
    } catch {
      slot.counters.handlerErrors++;
    }
  }

  private setState(i: number, state: LinkState): void {
    const slot = this.slots[i]!;
    const changed = slot.state?.up !== state.up;
    slot.state = state;
    if (changed) this.options.onLinkState?.(i, state);
  }
}
