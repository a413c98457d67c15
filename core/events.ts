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

export class EventBus {
  private seq = 0;
  private readonly ring: TandemEvent[] = [];
  private readonly listeners = new Set<Listener>();

  constructor(
    private readonly node: string,
    private readonly wall: () => number,
  ) {}

  emit(type: string, data: Record<string, unknown> = {}): TandemEvent {
    const e: TandemEvent = { id: ++this.seq, at: this.wall(), type, node: this.node, data };
    this.ring.push(e);
    if (this.ring.length > EVENT_HISTORY) this.ring.shift();
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A broken subscriber must not stop the others or the emitter.
      }
    }
    return e;
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
