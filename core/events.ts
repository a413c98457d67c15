/**
 * The event bus: every state change is a typed event. Subscribers (the log,
 * the SSE stream, metrics) see each event once, in order. A bounded ring keeps
 * the most recent ones so an SSE client can resume with Last-Event-ID.
 */
export interface TandemEvent {
  /** Sequence number, increasing within one process. */
  id: number;
  /** Wall-clock time, ms since the epoch. */
  at: number;
  /** Dotted type: "runtime.module", "config.reload", "heartbeat.peer"… */
  type: string;
  node: string;
  data: Record<string, unknown>;
}

export type Listener = (e: TandemEvent) => void;

export const EVENT_HISTORY = 1000;

/**
 * The recent events and who listens: the bus's own, and the API worker's copy
 * (fed by messages from the control thread, see core/api/worker.ts).
 */
export class EventHistory {
  private readonly ring: TandemEvent[] = [];
  private readonly listeners = new Set<Listener>();

  /** Keep `e` in the ring and hand it to every listener. */
  publish(e: TandemEvent): void {
    this.ring.push(e);
    if (this.ring.length > EVENT_HISTORY) this.ring.shift();
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A broken subscriber must not stop the others or the emitter.
      }
    }
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Events after `id` still held in history (oldest first). */
  since(id: number): TandemEvent[] {
    return this.ring.filter((e) => e.id > id);
  }
}

export class EventBus extends EventHistory {
  private seq = 0;

  constructor(
    private readonly node: string,
    private readonly wall: () => number,
  ) {
    super();
  }

  emit(type: string, data: Record<string, unknown> = {}): TandemEvent {
    const e: TandemEvent = { id: ++this.seq, at: this.wall(), type, node: this.node, data };
    this.publish(e);
    return e;
  }
}
