/**
 * The shell's half of a pure engine: it holds the engine's state, steps it
 * with each input, performs the effects in order, and keeps one timer armed
 * at the engine's next deadline, which feeds the engine its tick. The
 * runtime's lifecycle and the module services that run an engine are one.
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
}

export class EngineLoop<S, I, E> {
  private readonly timer: DeadlineTimer;

  constructor(
    clock: Clock,
    private current: S,
    private readonly engine: Engine<S, I, E>,
  ) {
    this.timer = new DeadlineTimer(clock, () => this.feed(engine.tick()));
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
