/**
 * Where a Worker's entry file is, from the project's root: beside the source
 * under `bun`, or inside the executable that `bun build --compile` made,
 * where the files sit under the root of Bun's embedded file system and a URL
 * made from import.meta.url would point beside the executable instead. Every
 * such entry is listed in scripts/build.mjs, else the executable lacks it.
 */
import { join } from "node:path";

const COMPILED = import.meta.path.startsWith("/$bunfs/");

export function workerEntry(fromRoot: string): string {
  return COMPILED ? `./${fromRoot}` : join(import.meta.dir, "..", fromRoot);
}
