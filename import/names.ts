/** Tandem names for what another tool named otherwise, or not at all. */
import { NAME_PATTERN } from "../core/config/primitives.ts";

export const NAME_RE = new RegExp(NAME_PATTERN);
export const NAME_MAX = 31;

/** A valid Tandem name from any text: lower case, '-' for the rest, starting with a letter. */
export function nameFrom(text: string, prefix: string): string {
  let s = text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  if (!/^[a-z]/.test(s)) s = s ? `${prefix}-${s}` : prefix;
  return s.slice(0, NAME_MAX).replace(/-+$/, "");
}

/** Names that must be unique among themselves: a repeat gets `-2`, `-3`, ... */
export class Names {
  private readonly taken = new Set<string>();

  unique(base: string): string {
    let name = base;
    for (let k = 2; this.taken.has(name); k++) name = `${base.slice(0, NAME_MAX - String(k).length - 1).replace(/-+$/, "")}-${k}`;
    this.taken.add(name);
    return name;
  }
}
