/**
 * Ordering migrations: from a valid placement to a valid target placement,
 * one migration at a time, such that every state in between (each finished
 * step, and each migration while in flight, see `checker.ts`) satisfies all
 * constraints: no transient overload.
 *
 * Greedy with look-ahead on what unblocks: at each step, among the pending
 * migrations that can run now, take the one that frees the most room that
 * other pending migrations wait for (it leaves a host they go to), then the
 * one leaving the least loaded arcs and host behind. When none can run (a
 * cycle: A waits for B's host and B for A's), one router of the cycle is
 * parked on a staging host (any host it may use where the park itself is
 * safe and keeps every constraint), and moves on to its target later. If no
 * park helps either, the ordering fails and says, for every migration left,
 * what blocks it.
 *
 * Host power changes around a transition: hosts the target needs are
 * powered on before the first migration, hosts it leaves empty are powered
 * down after the last.
 */
import { LoadTracker, type Violation } from "./checker.ts";
import type { Network } from "./network.ts";

export interface Migration {
  router: number;
  from: number;
  to: number;
  /** A park on the way, not the router's final host. */
  staging: boolean;
}

export interface BlockedMigration {
  router: number;
  from: number;
  to: number;
  violations: Violation[];
}

export type OrderResult =
  | { ok: true; migrations: Migration[] }
  | { ok: false; migrations: Migration[]; blocked: BlockedMigration[] };

export interface OrderOptions {
  /** Traffic multiplier during the transition. */
  scale: number;
  /** Hosts powered during the transition (all when absent). */
  hostsOn?: Uint8Array;
  /** Hosts router r may be parked on (its candidates); no parking when absent. */
  stagingHosts?: (router: number) => readonly number[];
  /** At most this many parks in one transition. */
  maxStaging?: number;
}

export function orderMigrations(
  net: Network,
  from: Int32Array,
  to: Int32Array,
  options: OrderOptions,
): OrderResult {
  const tracker = new LoadTracker(net, from, options.scale, options.hostsOn);
  const pending = new Set<number>();
  for (let r = 0; r < net.routers.length; r++) if (from[r] !== to[r]) pending.add(r);
  const migrations: Migration[] = [];
  const parked = new Set<number>();
  let parks = 0;
  const maxParks = options.maxStaging ?? pending.size;

  while (pending.size > 0) {
    // Who waits for which host.
    const wanted = new Map<number, number>();
    for (const r of pending) wanted.set(to[r], (wanted.get(to[r]) ?? 0) + 1);

    let best = -1;
    let bestFrees = -1;
    let bestPressure = Number.POSITIVE_INFINITY;
    for (const r of pending) {
      const { transient, after } = tracker.tryMove(r, to[r]);
      if (transient.length > 0 || after.length > 0) continue;
      const frees = wanted.get(tracker.placement[r]) ?? 0;
      const pressure = tracker.pressureAfter(r, to[r]);
      if (frees > bestFrees || (frees === bestFrees && pressure < bestPressure)) {
        best = r;
        bestFrees = frees;
        bestPressure = pressure;
      }
    }
    if (best >= 0) {
      migrations.push({
        router: best,
        from: tracker.placement[best],
        to: to[best],
        staging: false,
      });
      tracker.apply(best, to[best]);
      pending.delete(best);
      continue;
    }

    // Deadlock: park a router whose host others are waiting for.
    let parkedOne = false;
    if (options.stagingHosts && parks < maxParks) {
      const candidates = [...pending]
        .filter((r) => !parked.has(r))
        .sort(
          (a, b) =>
            (wanted.get(tracker.placement[b]) ?? 0) - (wanted.get(tracker.placement[a]) ?? 0),
        );
      for (const r of candidates) {
        if ((wanted.get(tracker.placement[r]) ?? 0) === 0) continue;
        let bestHost = -1;
        let bestHostPressure = Number.POSITIVE_INFINITY;
        for (const h of options.stagingHosts(r)) {
          if (h === tracker.placement[r] || h === to[r] || wanted.has(h)) continue;
          const { transient, after } = tracker.tryMove(r, h);
          if (transient.length > 0 || after.length > 0) continue;
          const pressure = tracker.pressureAfter(r, h);
          if (pressure < bestHostPressure) {
            bestHost = h;
            bestHostPressure = pressure;
          }
        }
        if (bestHost < 0) continue;
        migrations.push({ router: r, from: tracker.placement[r], to: bestHost, staging: true });
        tracker.apply(r, bestHost);
        parked.add(r);
        parks++;
        parkedOne = true;
        break;
      }
    }
    if (parkedOne) continue;

    const blocked: BlockedMigration[] = [];
    for (const r of pending) {
      const { transient, after } = tracker.tryMove(r, to[r]);
      blocked.push({
        router: r,
        from: tracker.placement[r],
        to: to[r],
        violations: dedupe([...after, ...transient]),
      });
    }
    return { ok: false, migrations, blocked };
  }
  return { ok: true, migrations };
}

function dedupe(violations: Violation[]): Violation[] {
  const seen = new Set<string>();
  return violations.filter((v) => {
    if (seen.has(v.message)) return false;
    seen.add(v.message);
    return true;
  });
}
