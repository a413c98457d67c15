/**
 * authkeys: `auth N` and lines `N crc|md5|sha1 [SECRET]`. Tandem cannot use
 * these secrets (its frames are sealed with a 256-bit XChaCha20-Poly1305 key
 * from `tandem keygen`), so the file is only checked, as Heartbeat checked it
 * (mode 0600 and a valid active key), and no secret is ever repeated: a
 * message names a line and a key id, never what follows the method.
 */
import { at, type Finding } from "../findings.ts";
import { readLines } from "./lines.ts";

const METHODS = ["crc", "md5", "sha1"];

/** What the active key was, or undefined when the file was refused (the reasons are in `findings`). */
export function checkAuthkeys(file: string, text: string, mode: number, findings: Finding[]): { id: number; method: string } | undefined {
  const before = findings.length;
  const error = (message: string, line?: number) => findings.push({ level: "error", where: at(file, line), message });
  if ((mode & 0o077) !== 0) {
    error(`mode 0${(mode & 0o777).toString(8)}: Heartbeat refused an authkeys file that others may read or write, and so does this import (chmod 600 ${file})`);
    return undefined;
  }
  let active: { id: number; line: number } | undefined;
  const keys = new Map<number, string>();
  for (const l of readLines(text)) {
    const [first, second] = l.words as [string, string | undefined];
    if (first === "auth") {
      if (active) error("a second auth line; authkeys has one", l.line);
      else if (second === undefined || !/^\d+$/.test(second) || l.words.length !== 2) error("auth takes one key id (auth 1)", l.line);
      else active = { id: Number(second), line: l.line };
      continue;
    }
    if (!/^\d+$/.test(first) || Number(first) < 1 || Number(first) > 15) {
      error("expected `auth N` or a key line `N crc|md5|sha1 SECRET` with N from 1 to 15", l.line);
      continue;
    }
    const id = Number(first);
    if (keys.has(id)) error(`key ${id} is defined twice`, l.line);
    else if (second === undefined || !METHODS.includes(second)) error(`key ${id}: expected a method, crc, md5 or sha1`, l.line);
    else if (second !== "crc" && l.words.length < 3) error(`key ${id}: ${second} needs a secret`, l.line);
    else keys.set(id, second);
  }
  if (!active) error("no auth line: Heartbeat needed one to know its active key");
  else if (!keys.has(active.id)) error(`auth ${active.id} names no key defined in the file`, active.line);
  if (findings.length > before || !active) return undefined;
  return { id: active.id, method: keys.get(active.id)! };
}
