/**
 * The checks' real thread (worker.ts), which dies as `die` says when the
 * control thread asks it for its status: the restart test's way to kill it.
 */
import "../../../../modules/checks/worker.ts";

declare const self: Worker;

export function dieOnStatus(die: () => void): void {
  const real = self.onmessage!;
  self.onmessage = (e: MessageEvent<{ type: string }>) => {
    if (e.data.type === "status") die();
    real.call(self, e);
  };
}
