/**
 * A lookup table keyed by words from the files being imported: an object
 * without a prototype, so a word such as `toString`, `constructor` or
 * `__proto__` finds nothing instead of Object.prototype's member.
 */
export function table<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}
