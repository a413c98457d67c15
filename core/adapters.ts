/**
 * What a module's shell touches of the world besides the clock (ctx.clock),
 * randomness (ctx.random) and its kept state (ctx.state): the network here,
 * and what modules add to `Adapters` by declaration merging (the resource
 * manager's agents and fence devices: modules/resources/adapters.ts). The
 * daemon passes the real ones (`realAdapters`, and each module's own default
 * for its field); the simulator (test/sim) passes its own, so the same shells
 * run on its virtual network and machines. (Where the runtime reads a
 * reloaded config from is the runtime's own: ConfigSource in
 * core/runtime/runtime.ts.)
 */
import { networkInterfaces } from "node:os";

/** os.networkInterfaces() as it answers: interface name to its addresses. */
export type InterfaceTable = Partial<Record<string, ReadonlyArray<{ address: string; netmask: string; family: string }>>>;

/** A bound UDP socket. */
export interface DatagramSocket {
  /** Hand one datagram to the network: true if taken, false if there was no room; throws when the send fails at once (interface down, address gone). */
  send(bytes: Uint8Array, port: number, address: string): boolean;
  close(): void;
}

export interface DatagramBinding {
  /** The address the socket is bound to (never the wildcard: see modules/heartbeat/links.ts). */
  address: string;
  port: number;
  /** Join this group on this node's address `local`, send to it with this TTL, without looping own datagrams back. */
  multicast?: { group: string; local: string; ttl: number };
  /** Allow sends to a broadcast address. */
  broadcast?: boolean;
  /** A datagram arrived from `from` (its source address). */
  onData(bytes: Uint8Array, from: string): void;
  /** The kernel reported an error after a send (ICMP port or host unreachable from a peer). */
  onError(): void;
}

/** UDP as the heartbeat's links use it. */
export interface DatagramTransport {
  /** Rejects when the address cannot be bound. */
  bind(binding: DatagramBinding): Promise<DatagramSocket>;
  /** The machine's interfaces and their addresses, now. */
  interfaces(): InterfaceTable;
}

/** One step of a module's engine: its input, its effects, the state it left. */
export interface EngineStep {
  input: unknown;
  effects: readonly unknown[];
  state: unknown;
}

export interface Adapters {
  datagrams: DatagramTransport;
  /** Told of each engine step before its effects are performed (test/sim checks its invariants there); nobody in the daemon. */
  steps?(module: string, step: EngineStep): void;
}

/** Bun's UDP sockets and the machine's interfaces. */
export const udpTransport: DatagramTransport = {
  async bind(b) {
    const socket = await Bun.udpSocket({
      hostname: b.address,
      port: b.port,
      binaryType: "uint8array",
      socket: {
        data: (_s, bytes, _port, from) => b.onData(bytes, from),
        // Only errors the kernel queued after a send come here (IP_RECVERR); without a handler Bun
        // turns them into uncaught exceptions. Bun passes the error as the only argument, not read.
        error: () => b.onError(),
      },
    });
    try {
      if (b.multicast) {
        socket.addMembership(b.multicast.group, b.multicast.local);
        socket.setMulticastInterface(b.multicast.local);
        socket.setMulticastTTL(b.multicast.ttl);
        socket.setMulticastLoopback(false);
      }
      if (b.broadcast) socket.setBroadcast(true);
    } catch (e) {
      socket.close();
      throw e;
    }
    return { send: (bytes, port, address) => socket.send(bytes, port, address), close: () => socket.close() };
  },
  interfaces: () => networkInterfaces(),
};

export const realAdapters: Adapters = { datagrams: udpTransport };

/** The adapters a module's context carries, or the real ones. */
export function adaptersOf(ctx: { adapters?: Adapters }): Adapters {
  return ctx.adapters ?? realAdapters;
}
