/**
 * Upstream reachability (Heartbeat's ping nodes, ipfail): every interval each
 * target gets one ICMP echo through the system's `ping`, in parallel, bounded
 * by the timeout. This is periodic background work, not on the failover path.
 */
import type { Clock, Cancel } from "../../core/time.ts";

export interface UpstreamOptions {
  targets: readonly string[];
  intervalMs: number;
  timeoutMs: number;
  clock: Clock;
  /** Called after each round with how many targets answered. */
  onResult(reachable: number, total: number): void;
}

async function pingOnce(target: string, timeoutMs: number): Promise<boolean> {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const p = Bun.spawn(["ping", "-n", "-q", "-c", "1", "-W", String(seconds), target], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs + 500);
  try {
    return (await p.exited) === 0;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export class Upstream {
  private cancel: Cancel | null = null;
  private stopped = false;

  constructor(private readonly o: UpstreamOptions) {}

  start(): void {
    this.round();
  }

  private round(): void {
    if (this.stopped) return;
    void Promise.all(this.o.targets.map((t) => pingOnce(t, this.o.timeoutMs))).then((answers) => {
      if (this.stopped) return;
      this.o.onResult(answers.filter(Boolean).length, answers.length);
      this.cancel = this.o.clock.after(this.o.intervalMs, () => this.round());
    });
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }
}
