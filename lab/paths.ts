/** Where a lab keeps its state, logs and nodes' state dirs: one directory per lab. */
import { join } from "node:path";

export const STATE_ROOT = "/run/tandem/lab";

export const labDir = (lab: string) => join(STATE_ROOT, lab);

/** The unix socket of the lab's control (control.ts), which its nodes' APIs reach. */
export const controlSocket = (lab: string) => join(labDir(lab), "control.sock");
