/**
 * What a running lab remembers: /run/tandem/lab/<lab>/state.json (its plan, the
 * processes it started, the faults it injected) and logs/<host>.log. Under
 * /run, so a reboot, which also removes the namespaces, forgets the lab too.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabError } from "./system.ts";
import { LAB_FAULTS } from "../core/api/lab.ts";
import { labDir, STATE_ROOT } from "./paths.ts";
import type { LabPlan } from "./topology.ts";

export const STATE_VERSION = 2;

export const FAULTS = LAB_FAULTS;
export type Fault = (typeof FAULTS)[number];

/** Impairment of what a host sends on one network (tc netem on its interface there). */
export interface Netem {
  lossPct?: number;
  delayMs?: number;
  jitterMs?: number;
}

/** A process the lab started; the start time (from /proc) tells it from a later process with the same PID. */
export interface ProcessRecord {
  pid: number;
  startTime: string;
  command: string[];
}

export interface LabState {
  version: typeof STATE_VERSION;
  createdAt: string;
  plan: LabPlan;
  processes: Record<string, ProcessRecord>;
  faults: Record<string, Fault[]>;
  /** Per host, the networks whose interface `fault HOST link NETWORK` took down. */
  linksDown: Record<string, string[]>;
  /** Per host and network, the netem in force. */
  netem: Record<string, Record<string, Netem>>;
  /** The lab's control (control.ts), outside every host's namespace; absent in a lab brought up before it existed. */
  control?: ProcessRecord;
}

export const stateFile = (lab: string) => join(labDir(lab), "state.json");
export const logDir = (lab: string) => join(labDir(lab), "logs");
export const logFile = (lab: string, host: string) => join(logDir(lab), `${host}.log`);

/**
 * Claim a lab name: creating its directory is atomic, so of two `lab up` with
 * the same name only one gets it. False when the name is taken.
 */
export function claimLab(lab: string): boolean {
  mkdirSync(STATE_ROOT, { recursive: true, mode: 0o755 });
  try {
    mkdirSync(labDir(lab), { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
  mkdirSync(logDir(lab), { mode: 0o700 });
  return true;
}

export function readState(lab: string): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFile(lab), "utf8");
  } catch {
    return undefined;
  }
  let state: LabState;
  try {
    state = JSON.parse(text) as LabState;
  } catch (e) {
    throw new LabError(`${stateFile(lab)} is not valid JSON (${(e as Error).message}); remove the lab by hand`);
  }
  if (state.version !== STATE_VERSION) throw new LabError(`${stateFile(lab)}: state version ${state.version}, this tandem reads ${STATE_VERSION}`);
  return state;
}

/** Write through a temporary file and a rename, so a reader never sees half a state. */
export function writeState(state: LabState): void {
  const file = stateFile(state.plan.lab);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export function removeLabDir(lab: string): void {
  rmSync(labDir(lab), { recursive: true, force: true });
}

/** Names of the labs that have a state directory, sorted. */
export function listLabs(): string[] {
  if (!existsSync(STATE_ROOT)) return [];
  return readdirSync(STATE_ROOT, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}
