/**
 * The FIB contract: longest-prefix match from a prefix to a next-hop index.
 *
 * A next-hop index is a small integer (0..MAX_NEXT_HOP) naming an adjacency
 * in the owning router's adjacency table; the FIB never learns what it means.
 * Lookups answer NO_ROUTE when no prefix covers the address.
 *
 * Addresses are plain unsigned integers: an IPv4 address is one 32-bit word,
 * an IPv6 address four 32-bit words, most significant first (the order of the
 * bytes on the wire). Batches of IPv6 addresses are packed four words each
 * in one Uint32Array. A prefix's bits past its length must be zero: the
 * tables refuse anything else with a RangeError rather than guess.
 *
 * Every implementation (the Poptrie tables and the naive reference) answers
 * to these interfaces, so that tests can hold them against each other.
 */

/** Index of an adjacency in the router's adjacency table. */
export type NextHop = number;

/** Largest storable next-hop index. */
export const MAX_NEXT_HOP = 0xfffe;

/** What a lookup answers when no prefix covers the address. */
export const NO_ROUTE = 0xffff;

export type Family = 4 | 6;

/** Operations common to both families; `A` is how one prefix is passed. */
export interface LpmTable<A> {
  readonly family: Family;
  /** Number of prefixes held. */
  readonly size: number;
  /** Adds a prefix or replaces its next hop. */
  insert(prefix: A, length: number, nextHop: NextHop): void;
  /** Removes a prefix; false when it was not there. */
  delete(prefix: A, length: number): boolean;
  /** Exact match: the prefix's own next hop, or NO_ROUTE. */
  get(prefix: A, length: number): NextHop;
  /**
   * Longest-prefix match over `count` addresses (default: as many as `out`
   * holds), writing one next hop per address into `out`.
   */
  lookupBatch(addrs: Uint32Array, out: Uint16Array, count?: number): void;
  /** Visits every prefix, in no promised order. Prefixes handed out are fresh copies. */
  forEach(visit: (prefix: A, length: number, nextHop: NextHop) => void): void;
  /** Replaces the whole content with `routes` (bulk build). */
  load(routes: RouteList): void;
  /** Removes every prefix. */
  clear(): void;
  /** Bytes held by the table's own storage (typed arrays and bookkeeping). */
  bytes(): number;
}

/** IPv4: a prefix or address is one unsigned 32-bit integer. */
export interface Lpm4 extends LpmTable<number> {
  readonly family: 4;
  lookup(addr: number): NextHop;
}

/** IPv6: a prefix or address is four 32-bit words, most significant first. */
export interface Lpm6 extends LpmTable<ArrayLike<number>> {
  readonly family: 6;
  /** Looks up the address held in `words[offset .. offset + 3]`. */
  lookup(words: ArrayLike<number>, offset?: number): NextHop;
}

/**
 * A list of routes of one family in typed arrays, as bulk builds, snapshots
 * and benchmarks exchange them. Route i has prefix words
 * `prefixes[i * w .. i * w + w - 1]` (w = 1 for IPv4, 4 for IPv6),
 * length `lengths[i]` and next hop `nextHops[i]`.
 */
export interface RouteList {
  readonly family: Family;
  readonly count: number;
  readonly prefixes: Uint32Array;
  readonly lengths: Uint8Array;
  readonly nextHops: Uint16Array;
}

/** Words per address of a family. */
export function wordsOf(family: Family): 1 | 4 {
  return family === 4 ? 1 : 4;
}

/** Address width in bits of a family. */
export function bitsOf(family: Family): 32 | 128 {
  return family === 4 ? 32 : 128;
}
