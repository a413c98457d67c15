/**
 * Secret files (the cluster key, the API token, a fence device's password):
 * opened once, without following a link (O_NOFOLLOW) and without waiting on a
 * FIFO (O_NONBLOCK), then judged by fstat of what was opened, so the file
 * checked is the file read. It must be a regular file of this user or root,
 * readable by its owner only, as ssh wants of its keys.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from "node:fs";

/** What is wrong with a file, in the words of a config problem (the caller adds the key path). */
export interface FileProblem {
  message: string;
  expected?: string;
  found?: string;
  hint?: string;
}

/** A FileProblem as one line: what, expected, found (the words of a config problem). */
export function describeFileProblem(p: FileProblem): string {
  return [p.message, ...(p.expected ? [`expected ${p.expected}`] : []), ...(p.found ? [`found ${p.found}`] : [])].join("; ");
}

/** The user this process runs as; root (0) where there are no users. */
export const runningUid = (): number => process.getuid?.() ?? 0;

/** Whose files and dirs this process trusts: its own user's and root's. */
export function ownerProblem(path: string, st: Stats): FileProblem | undefined {
  const me = runningUid();
  if (st.uid === me || st.uid === 0) return undefined;
  return { message: `${path} is owned by another user`, expected: `owned by this user (uid ${me}) or root`, found: `uid ${st.uid}` };
}

/** The text of a secret file, or why it cannot be trusted. */
export function readSecretFile(path: string): { text: string } | { problem: FileProblem } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOOP") return { problem: { message: `${path} is a symbolic link`, expected: "the file itself, owned by this user or root" } };
    return { problem: { message: `cannot read ${path}`, expected: "an existing file", found: (e as NodeJS.ErrnoException).code ?? (e as Error).message } };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { problem: { message: `${path} is not a regular file`, expected: "a file" } };
    const owner = ownerProblem(path, st);
    if (owner) return { problem: owner };
    if ((st.mode & 0o077) !== 0) return { problem: { message: `${path} is readable by others`, expected: "mode 0600", found: `mode 0${(st.mode & 0o777).toString(8)}`, hint: `chmod 600 ${path}` } };
    return { text: readFileSync(fd, "utf8") };
  } finally {
    closeSync(fd);
  }
}
