/**
 * The difference between two director states, shared by every dataplane:
 * pure. A service is known by its key, a real server within it by address
 * and port. Changes come removals first, then updates, then additions, so a
 * dataplane that applies them in order never holds two of one thing.
 */
import { DataplaneError, realKey, sameReal, sameSettings, settingsOf, type Change, type RealServer, type VirtualService } from "./model.ts";

const byKey = <T>(items: T[], key: (t: T) => string): Map<string, T> => new Map(items.map((t) => [key(t), t]));

/** The minimal changes that turn `current` into `desired`; nothing unchanged appears in them. */
export function diff(current: VirtualService[], desired: VirtualService[]): Change[] {
  const now = byKey(current, (s) => s.key);
  const want = byKey(desired, (s) => s.key);
  const removals: Change[] = [];
  const updates: Change[] = [];
  const additions: Change[] = [];
  for (const key of now.keys()) if (!want.has(key)) removals.push({ kind: "remove-service", key });
  for (const [key, d] of want) {
    const c = now.get(key);
    if (!c) {
      additions.push({ kind: "add-service", service: d });
      continue;
    }
    if (!sameSettings(settingsOf(c), settingsOf(d))) updates.push({ kind: "update-service", service: settingsOf(d) });
    const had = byKey(c.reals, realKey);
    const has = byKey(d.reals, realKey);
    for (const [rk, r] of had) if (!has.has(rk)) removals.push({ kind: "remove-real", key, address: r.address, port: r.port });
    for (const [rk, r] of has) {
      const before = had.get(rk);
      if (!before) additions.push({ kind: "add-real", key, real: r });
      else if (!sameReal(before, r)) updates.push({ kind: "update-real", key, real: r });
    }
  }
  return [...removals, ...updates, ...additions];
}

/** The keys of the services a diff touches. */
export function touched(changes: Change[]): Set<string> {
  return new Set(changes.map((c) => (c.kind === "add-service" || c.kind === "update-service" ? c.service.key : c.key)));
}

/** `current` with `changes` applied; throws when a change does not fit it (a diff made against another state). */
export function applyDiff(current: VirtualService[], changes: Change[]): VirtualService[] {
  const services = byKey(current, (s) => s.key);
  const must = (key: string): VirtualService => {
    const s = services.get(key);
    if (!s) throw new DataplaneError(`the diff names virtual service ${key}, which is not there`);
    return s;
  };
  const withReals = (s: VirtualService, f: (reals: Map<string, RealServer>) => void): VirtualService => {
    const reals = byKey(s.reals, realKey);
    f(reals);
    return { ...s, reals: [...reals.values()] };
  };
  for (const c of changes) {
    switch (c.kind) {
      case "add-service":
        if (services.has(c.service.key)) throw new DataplaneError(`the diff adds virtual service ${c.service.key}, which is already there`);
        services.set(c.service.key, c.service);
        break;
      case "remove-service":
        must(c.key);
        services.delete(c.key);
        break;
      case "update-service":
        services.set(c.service.key, { ...c.service, reals: must(c.service.key).reals });
        break;
      case "add-real":
      case "update-real":
        services.set(
          c.key,
          withReals(must(c.key), (reals) => {
            const present = reals.has(realKey(c.real));
            if (present !== (c.kind === "update-real")) throw new DataplaneError(`the diff ${c.kind === "add-real" ? "adds" : "updates"} real server ${realKey(c.real)} of ${c.key}, which is ${present ? "already" : "not"} there`);
            reals.set(realKey(c.real), c.real);
          }),
        );
        break;
      case "remove-real":
        services.set(
          c.key,
          withReals(must(c.key), (reals) => {
            if (!reals.delete(realKey(c))) throw new DataplaneError(`the diff removes real server ${realKey(c)} of ${c.key}, which is not there`);
          }),
        );
        break;
    }
  }
  return [...services.values()];
}
