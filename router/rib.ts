/**
 * The router's RIB: every route from every source (local addresses,
 * connected subnets, static and BGP routes) in one table, as in BIRD where
 * protocols feed one RIB per router. For each prefix the route of lowest
 * administrative distance wins (the first added among equals) and is
 * installed in the FIB with its adjacency; when it goes, the next best
 * takes its place. Adjacencies are reference-counted: a route holds one
 * while it is in the RIB.
 *
 * Sized for full BGP tables (a million prefixes): a route is one small
 * integer packing its source, distance and adjacency index, so a prefix
 * with one route costs one Map entry and no object. IPv4 prefixes live in
 * one Map per prefix length keyed by the address as a signed 32-bit integer
 * (a small integer to V8, hashed without allocation); IPv6 prefixes in one
 * Map keyed by their text-free word form. A prefix with several routes holds
 * them in a short array.
 */
import type { Fib } from "../fib/fib.ts";
import { formatPrefix } from "../fib/prefix.ts";
import type { Family, NextHop } from "../fib/types.ts";
import type { AdjacencySpec, AdjacencyTable } from "./adjacency.ts";

export type RouteSource = "local" | "connected" | "static" | "bgp";

const SOURCES: readonly RouteSource[] = ["local", "connected", "static", "bgp"];

/**
 * Administrative distances (lower wins), as routers conventionally set them;
 * `bgp` is for routes learned over eBGP, iBGP-learned ones take
 * `DISTANCE_IBGP`.
 */
export const DISTANCE: Readonly<Record<RouteSource, number>> = {
  local: 0,
  connected: 0,
  static: 1,
  bgp: 20,
};
export const DISTANCE_IBGP = 200;

export interface RibRoute {
  source: RouteSource;
  distance: number;
  family: Family;
  /** 1 word (IPv4) or 4 (IPv6). */
  prefix: Uint32Array;
  length: number;
  adjacency: AdjacencySpec;
}

/** One route as `routes()` reports it. */
export interface RibRouteView {
  source: RouteSource;
  distance: number;
  adjacency: AdjacencySpec;
}

// A route packed in one small integer: source (3 bits), distance (8), hop (16).
const pack = (source: number, distance: number, hop: NextHop) =>
  source | (distance << 3) | (hop << 11);
const sourceOf = (r: number) => r & 7;
const distanceOf = (r: number) => (r >>> 3) & 0xff;
const hopOf = (r: number): NextHop => r >>> 11;

type Routes = number | number[];

export class Rib {
  /** IPv4: one Map per prefix length, keyed by the prefix as an int32. */
  private readonly v4: Map<number, Routes>[] = Array.from({ length: 33 }, () => new Map());
  /** IPv6: keyed by `w0,w1,w2,w3/len`. */
  private readonly v6 = new Map<string, Routes>();
  private count = 0;
  /**
   * Adopting a FIB that already holds the RIB's choices (a migrated
   * router's, cloned from its source): the RIB keeps its own state and
   * references but leaves the FIB alone until this goes false.
   */
  adopting = false;

  constructor(
    private readonly fib: Fib,
    private readonly adjacencies: AdjacencyTable,
  ) {}

  /** Adds a route, replacing the same source's route for the same prefix. */
  add(route: RibRoute): void {
    const hop = this.adjacencies.acquire(route.adjacency);
    this.put(route.source, route.distance, route.family, route.prefix, route.length, hop);
  }

  /**
   * Adds an IPv4 route through an adjacency the caller already holds: the
   * RIB takes a reference of its own (the fast path for protocols that
   * install many routes through few next hops).
   */
  addHop4(source: RouteSource, distance: number, prefix: number, length: number, hop: NextHop) {
    this.adjacencies.retain(hop);
    this.put4(SOURCES.indexOf(source), distance, prefix, length, hop);
  }

  /** As `addHop4`, for IPv6. */
  addHop6(
    source: RouteSource,
    distance: number,
    prefix: Uint32Array,
    length: number,
    hop: NextHop,
  ) {
    this.adjacencies.retain(hop);
    this.put6(SOURCES.indexOf(source), distance, prefix, length, hop);
  }

  /** Removes `source`'s route for a prefix; false when it had none. */
  remove(source: RouteSource, family: Family, prefix: Uint32Array, length: number): boolean {
    return family === 4
      ? this.remove4(source, prefix[0], length)
      : this.remove6(source, prefix, length);
  }

  remove4(source: RouteSource, prefix: number, length: number): boolean {
    const map = this.v4[length];
    const key = prefix | 0;
    const routes = map.get(key);
    if (routes === undefined) return false;
    const next = this.without(routes, SOURCES.indexOf(source));
    if (next === routes) return false;
    if (next === undefined) map.delete(key);
    else map.set(key, next);
    this.install4(prefix, length, next);
    return true;
  }

  remove6(source: RouteSource, prefix: Uint32Array, length: number): boolean {
    const key = key6(prefix, length);
    const routes = this.v6.get(key);
    if (routes === undefined) return false;
    const next = this.without(routes, SOURCES.indexOf(source));
    if (next === routes) return false;
    if (next === undefined) this.v6.delete(key);
    else this.v6.set(key, next);
    this.install6(prefix, length, next);
    return true;
  }

  /** The installed route for a prefix, or undefined. */
  lookup(family: Family, prefix: Uint32Array, length: number): RibRouteView | undefined {
    const routes =
      family === 4 ? this.v4[length].get(prefix[0] | 0) : this.v6.get(key6(prefix, length));
    return routes === undefined ? undefined : this.view(best(routes));
  }

  /** Every prefix's best route, with the losers after it (for `show route`). */
  *routes(): Generator<{
    prefix: string;
    family: Family;
    best: RibRouteView;
    others: RibRouteView[];
  }> {
    for (let length = 0; length <= 32; length++) {
      for (const [key, routes] of this.v4[length]) {
        yield this.entryView(4, Uint32Array.of(key >>> 0), length, routes);
      }
    }
    for (const [key, routes] of this.v6) {
      const [words, length] = parseKey6(key);
      yield this.entryView(6, words, length, routes);
    }
  }

  /** Prefixes with at least one route. */
  get size(): number {
    return this.count;
  }

  // ---- internals ------------------------------------------------------------

  private put(
    source: RouteSource,
    distance: number,
    family: Family,
    prefix: Uint32Array,
    length: number,
    hop: NextHop,
  ): void {
    if (family === 4) this.put4(SOURCES.indexOf(source), distance, prefix[0], length, hop);
    else this.put6(SOURCES.indexOf(source), distance, prefix, length, hop);
  }

  private put4(source: number, distance: number, prefix: number, length: number, hop: NextHop) {
    const map = this.v4[length];
    const key = prefix | 0;
    const next = this.with(map.get(key), pack(source, distance, hop));
    map.set(key, next);
    this.install4(prefix, length, next);
  }

  private put6(
    source: number,
    distance: number,
    prefix: Uint32Array,
    length: number,
    hop: NextHop,
  ) {
    const key = key6(prefix, length);
    const next = this.with(this.v6.get(key), pack(source, distance, hop));
    this.v6.set(key, next);
    this.install6(prefix, length, next);
  }

  /** `routes` with `route` added, replacing (and releasing) the same source's route. */
  private with(routes: Routes | undefined, route: number): Routes {
    if (routes === undefined) {
      this.count++;
      return route;
    }
    const source = sourceOf(route);
    if (typeof routes === "number") {
      if (sourceOf(routes) !== source) return [routes, route];
      this.adjacencies.release(hopOf(routes));
      return route;
    }
    const at = routes.findIndex((r) => sourceOf(r) === source);
    if (at >= 0) {
      this.adjacencies.release(hopOf(routes[at]));
      routes[at] = route;
    } else routes.push(route);
    return routes;
  }

  /** `routes` without `source`'s route (released): the same value when it had none. */
  private without(routes: Routes, source: number): Routes | undefined {
    if (typeof routes === "number") {
      if (sourceOf(routes) !== source) return routes;
      this.adjacencies.release(hopOf(routes));
      this.count--;
      return undefined;
    }
    const at = routes.findIndex((r) => sourceOf(r) === source);
    if (at < 0) return routes;
    this.adjacencies.release(hopOf(routes[at]));
    const rest = routes.filter((_, i) => i !== at);
    return rest.length === 1 ? rest[0] : rest;
  }

  private install4(prefix: number, length: number, routes: Routes | undefined): void {
    if (this.adopting) return;
    if (routes === undefined) this.fib.delete4(prefix >>> 0, length);
    else this.fib.insert4(prefix >>> 0, length, hopOf(best(routes)));
  }

  private install6(prefix: Uint32Array, length: number, routes: Routes | undefined): void {
    if (this.adopting) return;
    if (routes === undefined) this.fib.delete6(prefix, length);
    else this.fib.insert6(prefix, length, hopOf(best(routes)));
  }

  private view(route: number): RibRouteView {
    return {
      source: SOURCES[sourceOf(route)],
      distance: distanceOf(route),
      adjacency: this.adjacencies.spec(hopOf(route)),
    };
  }

  private entryView(family: Family, prefix: Uint32Array, length: number, routes: Routes) {
    const winner = best(routes);
    const all = typeof routes === "number" ? [routes] : routes;
    return {
      prefix: formatPrefix(family, prefix, length),
      family,
      best: this.view(winner),
      others: all.filter((r) => r !== winner).map((r) => this.view(r)),
    };
  }
}

/** The route of lowest distance, the earliest added among equals. */
function best(routes: Routes): number {
  if (typeof routes === "number") return routes;
  let winner = routes[0];
  for (let i = 1; i < routes.length; i++) {
    if (distanceOf(routes[i]) < distanceOf(winner)) winner = routes[i];
  }
  return winner;
}

function key6(prefix: Uint32Array, length: number): string {
  return `${prefix[0]},${prefix[1]},${prefix[2]},${prefix[3]}/${length}`;
}

function parseKey6(key: string): [Uint32Array, number] {
  const [words, length] = key.split("/");
  return [Uint32Array.from(words.split(",").map(Number)), Number(length)];
}
