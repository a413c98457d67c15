/**
 * The shell's half of a pure engine: it holds the engine's state, steps it
 * with each input, performs the effects in order, and keeps one timer armed
 * at the engine's next deadline, which feeds the engine its tick. The
 * runtime's lifecycle and the module services that run an engine are one.
 *
 * A timer that fires late means the loop did not run for a while (a stall of
 * the process or the machine); what arrived meanwhile waits in the sockets,
 * and Bun runs an overdue timer before it reads them. An engine that judges
 * time against what it hears (the heartbeat: leases, silences) asks for
 * `readFirstWhenLateMs`: a tick later than that is put off by one turn of the
 * loop, which reads what waits first, so the tick judges it with all of it.
 */
import { DeadlineTimer, type Clock } from "./time.ts";

export interface Engine<S, I, E> {
  step(state: S, input: I): { state: S; effects: readonly E[] };
  /** When the engine next needs its tick; null: never. */
  nextDeadline(state: S): number | null;
  /** The input that ticks it, built when the timer fires. */
  tick(): I;
  perform(effect: E): void;
  /** After an input's effects are performed and the timer re-armed (ticks included): what the shell tells others. */
  settled?(effects: readonly E[]): void;
  /** A tick later than this past its deadline waits one turn of the loop, so that ready sockets are read first (see above). */
  readFirstWhenLateMs?: number;
}

export class EngineLoop<S, I, E> {
  private readonly timer: DeadlineTimer;
  /** The deadline whose late tick was put off once: its next firing feeds it, however late. */
  private putOff: number | null = null;

  constructor(
    clock: Clock,
    private current: S,
    private readonly engine: Engine<S, I, E>,
  ) {
    this.timer = new DeadlineTimer(clock, (at) => {
      const limit = engine.readFirstWhenLateMs;
      if (limit !== undefined && this.putOff !== at && clock.now() - at > limit) {
        this.putOff = at;
        // At once, but after this turn's timers: the loop's next turn reads the sockets before it runs this one.
        this.timer.set(at);
        return;
      }
      this.putOff = null;
      this.feed(engine.tick());
    });
  }

  get state(): S {
    return this.current;
  }

  /** Step with `input`, perform what it asks, re-arm at the next deadline; returns the effects. */
  feed(input: I): readonly E[] {
    const { state, effects } = this.engine.step(this.current, input);
    this.current = state;
    for (const e of effects) this.engine.perform(e);
    this.timer.set(this.engine.nextDeadline(this.current));
    this.engine.settled?.(effects);
    return effects;
  }

  /** Disarm the timer (a stopped shell); the next feed arms it again. */
  clear(): void {
    this.timer.clear();
  }
}
