/** What every checker of a kind is: a target and a check in, an outcome out (checkers.ts holds them by kind). */
import type { CheckRaw } from "./config.ts";

/** Where a check goes: the server's address and the port to check (null when nothing names one). */
export interface Target {
  address: string;
  port: number | null;
}

export interface CheckOutcome {
  ok: boolean;
  message: string;
  /** misc with dynamic_weight: the weight its exit code sets. */
  weight?: number;
}

export type CheckFn = (target: Target, check: CheckRaw, signal: AbortSignal) => Promise<CheckOutcome>;
