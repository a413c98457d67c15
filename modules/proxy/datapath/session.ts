/**
 * What a connection's session (http, tcp, a tunnel, the PROXY header read,
 * a connect to a server) asks of its worker's data path, as an interface:
 * the sessions depend on it, DataPath (datapath.ts) implements it, and no
 * session imports the data path itself.
 */
import type { Outcome, Server } from "../balance/balancer.ts";
import type { AccessLog } from "./access.ts";
import type { Waiter } from "./backends.ts";
import type { Deadlines } from "./clock.ts";
import type { BackendRt, FrontendRt, Generation } from "./generation.ts";

/** Who a client is: its address and port, and the address and port it reached. */
export interface Peer {
  address: string;
  port: number;
  localAddress: string;
  localPort: number;
}

/** What the balancer may hash or stick on for one request. */
export interface PickKey {
  source: string;
  uri?: string;
  header?: (name: string) => string | undefined;
  cookie?: string;
}

/** A client connection's session, as the data path sees it for a stop. */
export interface Session {
  /** Stop taking requests: close now when idle, after the current exchange otherwise. */
  wind(): void;
  abort(): void;
}

export interface SessionHost {
  readonly deadlines: Deadlines;
  /** The worker's access log: whether a request gets a line, and the line. */
  readonly accessLog: AccessLog;
  /** The generation new requests take. */
  readonly current: Generation;
  /** A client connection ended (its session says so once). */
  clientClosed(fe: FrontendRt, session: Session | null): void;
  /** A server for a request or tcp connection: now (a Server), later through `waiter` (queued), or why not. */
  acquire(backend: BackendRt, key: PickKey, waiter: Waiter): Server | "queued" | "unavailable" | "queue_full";
  /** The request's slot on `server` is free again. */
  release(backend: BackendRt, server: Server): void;
  /** A queued request's client left. */
  cancel(backend: BackendRt, waiter: Waiter): void;
  /** Another server for a retry: the slot moves to it; null when none is free now (the retry stays on `failed`). */
  redispatch(backend: BackendRt, failed: Server): Server | null;
  /** `server`'s answer to an http request (its head) is going to the client. */
  served(fe: FrontendRt, backend: BackendRt, server: Server, peer: Peer, status: number): void;
  /** Passive health: what a request or connect to `server` came to. */
  observe(backend: BackendRt, server: Server, outcome: Outcome): void;
  /** The PROXY header a backend with send_proxy wants before a client's bytes; null without. */
  proxyHeader(backend: BackendRt, peer: Peer): Uint8Array | null;
}
