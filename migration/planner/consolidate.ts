/**
 * A greedy placement for one power-savings slot, used as the MIP start of
 * large instances (HiGHS then only has to improve on it) and as their
 * fallback when the solver finds nothing better in its share of time.
 *
 * From the previous slot's placement, at the slot's traffic:
 * 1. Repair: while a host or link is over capacity (traffic rose), move the
 *    router that relieves it to the powered host with the most room among
 *    its candidates (same PoP first), powering one on if none has room.
 * 2. Consolidate: try to empty powered hosts, emptiest first; a host is
 *    emptied only if all its routers find room on other powered hosts and
 *    the budget covers the moves, else nothing of it moves.
 * 3. Polish: routers left away from their home PoP go back to a powered
 *    host there if it has room (their traffic then stays off the substrate).
 * 4. Improve: single moves between powered hosts that lower the
 *    load-proportional power of links and hosts.
 * Every tentative move is checked with the checker's incremental tracker.
 */

import type { Candidates } from "./candidates.ts";
import { checkState, LoadTracker } from "./checker.ts";
import type { Network } from "./network.ts";

export interface ConsolidateResult {
  placement: Int32Array;
  hostsOn: Uint8Array;
  migrations: number;
  /** False when the repair could not make the placement valid. */
  valid: boolean;
}

export function consolidateSlot(
  net: Network,
  candidates: Candidates,
  previous: Int32Array,
  scale: number,
  budget: number,
): ConsolidateResult {
  const H = net.hosts.length;
  const hostsOn = new Uint8Array(H);
  for (const h of previous) hostsOn[h] = 1;
  const tracker = new LoadTracker(net, previous, scale, hostsOn);
  const origin = previous;
  let moves = 0;
  const movedSet = new Set<number>();
  const count = new Int32Array(H);
  for (const h of previous) count[h]++;

  const canMove = (r: number, h: number): boolean => {
    const { transient, after } = tracker.tryMove(r, h);
    return after.length === 0 && transient.length === 0;
  };
  const doMove = (r: number, h: number) => {
    const from = tracker.placement[r];
    tracker.apply(r, h);
    count[from]--;
    count[h]++;
    hostsOn[h] = 1;
    const back = origin[r] === h;
    if (back && movedSet.has(r)) {
      movedSet.delete(r);
      moves--;
    } else if (!movedSet.has(r)) {
      movedSet.add(r);
      moves++;
    }
  };
  const ordered = (r: number): number[] => {
    const home = net.hosts[tracker.placement[r]].pop;
    return [...candidates.hosts[r]].sort((a, b) => {
      const pa = net.hosts[a].pop === home ? 0 : 1;
      const pb = net.hosts[b].pop === home ? 0 : 1;
      return pa - pb || tracker.pressureAfter(r, a) - tracker.pressureAfter(r, b);
    });
  };

  // 1. Repair overloads.
  let valid = true;
  for (let round = 0; round < net.routers.length; round++) {
    const state = checkState(net, { placement: tracker.placement, scale, hostsOn });
    const overloaded = state.violations.filter(
      (v) => v.kind.startsWith("host-") || v.kind === "link-capacity",
    );
    if (overloaded.length === 0) break;
    const v = overloaded[0];
    let suspects: number[];
    if (v.host !== undefined) {
      const h = net.hostIndex.get(v.host)!;
      suspects = net.routers.filter((r) => tracker.placement[r.index] === h).map((r) => r.index);
    } else suspects = net.routers.map((r) => r.index);
    let fixed = false;
    for (const r of suspects.sort((a, b) => net.peak.routerLoad[b] - net.peak.routerLoad[a])) {
      if (moves >= budget && !movedSet.has(r)) continue;
      for (const h of ordered(r)) {
        if (h === tracker.placement[r]) continue;
        const wasOn = hostsOn[h];
        hostsOn[h] = 1;
        if (canMove(r, h)) {
          doMove(r, h);
          fixed = true;
          break;
        }
        hostsOn[h] = wasOn;
      }
      if (fixed) break;
    }
    if (!fixed) {
      valid = false;
      break;
    }
  }

  // 2. Consolidate while the budget lasts.
  if (valid) {
    const order = [...Array(H).keys()]
      .filter((h) => hostsOn[h] && count[h] > 0)
      .sort(
        (a, b) =>
          count[a] - count[b] || tracker.loads.hostTraffic[a] - tracker.loads.hostTraffic[b],
      );
    for (const h of order) {
      if (!hostsOn[h] || count[h] === 0) continue;
      const routers = net.routers
        .filter((r) => tracker.placement[r.index] === h)
        .map((r) => r.index);
      const cost = routers.filter((r) => !movedSet.has(r) || origin[r] === h).length;
      if (moves + cost > budget) continue;
      hostsOn[h] = 0;
      const done: [number, number][] = [];
      let ok = true;
      for (const r of routers) {
        let placed = false;
        for (const target of ordered(r)) {
          if (target === h || !hostsOn[target]) continue;
          if (canMove(r, target)) {
            done.push([r, h]);
            doMove(r, target);
            placed = true;
            break;
          }
        }
        if (!placed) {
          ok = false;
          break;
        }
      }
      if (!ok) {
        hostsOn[h] = 1;
        for (let i = done.length - 1; i >= 0; i--) doMove(done[i][0], done[i][1]);
      }
    }
  }
  // 3. Polish: bring routers placed away from their home PoP back to a powered
  // host there when it has room (less traffic on the substrate), budget permitting.
  if (valid)
    for (let r = 0; r < net.routers.length; r++) {
      const home = net.hosts[net.routers[r].host].pop;
      if (net.hosts[tracker.placement[r]].pop === home) continue;
      for (const h of candidates.hosts[r]) {
        if (net.hosts[h].pop !== home || !hostsOn[h] || count[h] === 0) continue;
        const extra = movedSet.has(r) || origin[r] === h ? 0 : 1;
        if (moves + extra > budget) continue;
        if (canMove(r, h)) {
          doMove(r, h);
          break;
        }
      }
    }
  // 4. Improve: move single routers between powered hosts when that lowers the
  // load-proportional power (less traffic across the substrate, or a host
  // that forwards more cheaply), budget permitting.
  if (valid) {
    const busyPerMbps = (h: number) => {
      const host = net.hosts[h];
      return Number.isFinite(host.throughputMbps)
        ? (host.busyW - host.idleW) / host.throughputMbps
        : 0;
    };
    const gain = (r: number, to: number): number => {
      let delta = 0;
      for (const [arc, load] of tracker.arcDelta(r, to)) {
        const link = net.links[arc >> 1];
        delta += ((link.busyW - link.idleW) * load) / (2 * link.capacityMbps);
      }
      const traffic = net.peak.routerLoad[r] * scale;
      delta += traffic * (busyPerMbps(to) - busyPerMbps(tracker.placement[r]));
      return -delta;
    };
    for (let r = 0; r < net.routers.length; r++) {
      let best = -1;
      let bestGain = 1e-6;
      for (const h of candidates.hosts[r]) {
        if (h === tracker.placement[r] || !hostsOn[h] || count[h] === 0) continue;
        const extra = movedSet.has(r) || origin[r] === h ? 0 : 1;
        if (moves + extra > budget) continue;
        const g = gain(r, h);
        if (g > bestGain && canMove(r, h)) {
          best = h;
          bestGain = g;
        }
      }
      if (best >= 0) doMove(r, best);
    }
  }
  for (let h = 0; h < H; h++) hostsOn[h] = count[h] > 0 ? 1 : 0;
  return { placement: tracker.placement.slice(), hostsOn, migrations: moves, valid };
}
