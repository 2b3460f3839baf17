/**
 * The router's RIB: every route from every source (local addresses,
 * connected subnets, static routes; BGP later) in one table, as in BIRD
 * where protocols feed one RIB per router. For each prefix the route of
 * lowest administrative distance wins (the first added among equals) and is
 * installed in the FIB with its adjacency; when it goes, the next best
 * takes its place. Adjacencies are reference-counted: a route holds one
 * while it is in the RIB.
 */
import type { Fib } from "../fib/fib.ts";
import { formatPrefix } from "../fib/prefix.ts";
import type { Family, NextHop } from "../fib/types.ts";
import type { AdjacencySpec, AdjacencyTable } from "./adjacency.ts";

export type RouteSource = "local" | "connected" | "static" | "bgp";

/** Administrative distances (lower wins), as routers conventionally set them. */
export const DISTANCE: Readonly<Record<RouteSource, number>> = {
  local: 0,
  connected: 0,
  static: 1,
  bgp: 20,
};

export interface RibRoute {
  source: RouteSource;
  distance: number;
  family: Family;
  /** 1 word (IPv4) or 4 (IPv6). */
  prefix: Uint32Array;
  length: number;
  adjacency: AdjacencySpec;
}

interface Entry {
  family: Family;
  prefix: Uint32Array;
  length: number;
  candidates: { route: RibRoute; hop: NextHop }[];
  /** Index into candidates of the installed route, or -1. */
  best: number;
}

export class Rib {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly fib: Fib,
    private readonly adjacencies: AdjacencyTable,
  ) {}

  /** Adds a route, replacing the same source's route for the same prefix. */
  add(route: RibRoute): void {
    const key = keyOf(route.family, route.prefix, route.length);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = {
        family: route.family,
        prefix: route.prefix,
        length: route.length,
        candidates: [],
        best: -1,
      };
      this.entries.set(key, entry);
    }
    const hop = this.adjacencies.acquire(route.adjacency);
    const at = entry.candidates.findIndex((c) => c.route.source === route.source);
    if (at >= 0) {
      this.adjacencies.release(entry.candidates[at].hop);
      entry.candidates[at] = { route, hop };
    } else {
      entry.candidates.push({ route, hop });
    }
    this.select(entry, key);
  }

  /** Removes `source`'s route for a prefix; false when it had none. */
  remove(source: RouteSource, family: Family, prefix: Uint32Array, length: number): boolean {
    const key = keyOf(family, prefix, length);
    const entry = this.entries.get(key);
    if (!entry) return false;
    const at = entry.candidates.findIndex((c) => c.route.source === source);
    if (at < 0) return false;
    this.adjacencies.release(entry.candidates[at].hop);
    entry.candidates.splice(at, 1);
    this.select(entry, key);
    return true;
  }

  /** Every prefix's best route, with the losers after it (for `show route`). */
  *routes(): Generator<{ prefix: string; best: RibRoute; others: RibRoute[] }> {
    for (const e of this.entries.values()) {
      if (e.best < 0) continue;
      yield {
        prefix: formatPrefix(e.family, e.prefix, e.length),
        best: e.candidates[e.best].route,
        others: e.candidates.filter((_, i) => i !== e.best).map((c) => c.route),
      };
    }
  }

  get size(): number {
    return this.entries.size;
  }

  private select(entry: Entry, key: string): void {
    let best = -1;
    entry.candidates.forEach((c, i) => {
      if (best < 0 || c.route.distance < entry.candidates[best].route.distance) best = i;
    });
    entry.best = best;
    if (best < 0) {
      this.entries.delete(key);
      if (entry.family === 4) this.fib.delete4(entry.prefix[0], entry.length);
      else this.fib.delete6(entry.prefix, entry.length);
      return;
    }
    const hop = entry.candidates[best].hop;
    if (entry.family === 4) this.fib.insert4(entry.prefix[0], entry.length, hop);
    else this.fib.insert6(entry.prefix, entry.length, hop);
  }
}

function keyOf(family: Family, prefix: Uint32Array, length: number): string {
  return family === 4 ? `${prefix[0]}/${length}` : `${prefix.join(":")}/${length}`;
}
