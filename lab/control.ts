/**
 * The lab's control: a process `lab up` starts in the host's network
 * namespace (`tandem lab control --name LAB`), serving HTTP on a unix socket
 * in the lab's directory (root's, 0600) for the nodes' API (core/api/lab.ts):
 * GET /hosts, POST /fault/HOST/KIND, POST /heal/HOST, carried out by the same
 * code as `tandem lab fault` and `heal`, one at a time. Outside every host's
 * namespace, it survives the power fault of the node that asked for it. `lab
 * down` kills it with the rest.
 */
import { chmodSync, rmSync } from "node:fs";
import { LAB_CONTROL_TIMEOUT_MS, type LabView } from "../core/api/lab.ts";
import { problem } from "../core/api/problem.ts";
import { controlSocket } from "./paths.ts";
import { fault, heal, status } from "./lab.ts";
import { FAULTS, readState, type Fault } from "./state.ts";
import { LabError } from "./system.ts";

/** A heal waits for the host to answer (up to READY_TIMEOUT_MS); the control answers 202 before the node's wait for it ends. */
export const HEAL_ANSWER_MS = LAB_CONTROL_TIMEOUT_MS / 2;

const json = (body: unknown, status = 200) => Response.json(body, { status });

function view(lab: string): LabView {
  const state = readState(lab);
  if (!state) throw new LabError(`lab "${lab}" is not up`);
  const s = status(state);
  return { lab, faults: FAULTS, hosts: s.hosts.map((h) => ({ name: h.name, role: h.role, api: h.api, process: h.process?.state ?? null, faults: h.faults, linksDown: h.linksDown })) };
}

/** Serve the lab's control until the process is killed; returns the socket's path. */
export function serveControl(lab: string): string {
  const socket = controlSocket(lab);
  rmSync(socket, { force: true });
  let queue: Promise<unknown> = Promise.resolve();
  /** One action at a time: each reads, changes and writes the lab's state. */
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const next = queue.then(f, f);
    queue = next.catch(() => undefined);
    return next;
  };
  const act = async (f: () => Promise<Response>): Promise<Response> => {
    try {
      return await f();
    } catch (e) {
      if (e instanceof LabError) return problem(/has no host/.test(e.message) ? 404 : 409, e.message);
      throw e;
    }
  };
  Bun.serve({
    unix: socket,
    fetch: (req) => {
      const parts = new URL(req.url).pathname.split("/").filter(Boolean).map(decodeURIComponent);
      if (req.method === "GET" && parts.length === 1 && parts[0] === "hosts") return act(async () => json(view(lab)));
      if (req.method === "POST" && parts[0] === "fault" && parts.length === 3) {
        const [, host, kind] = parts as [string, string, string];
        if (!(FAULTS as readonly string[]).includes(kind)) return problem(404, `no fault "${kind}"; the lab has ${FAULTS.join(", ")}`);
        return act(() => serial(() => fault(lab, host, kind as Fault)).then(() => json({ host, fault: kind })));
      }
      if (req.method === "POST" && parts[0] === "heal" && parts.length === 2) {
        const host = parts[1]!;
        return act(async () => {
          const healing = serial(() => heal(lab, host)).then(
            (silent) => ({ silent }),
            (error: unknown) => ({ error }),
          );
          const early = await Promise.race([healing, Bun.sleep(HEAL_ANSWER_MS).then(() => null)]);
          if (!early) return json({ host, healed: "started; waiting for it to answer" }, 202);
          if ("error" in early) throw early.error;
          return early.silent.length ? problem(409, `${host} was healed but does not answer: ${early.silent.join("; ")}`) : json({ host, healed: "answers" });
        });
      }
      return problem(404, `no such lab control request: ${req.method} ${new URL(req.url).pathname}`);
    },
  });
  chmodSync(socket, 0o600);
  return socket;
}
