/**
 * Route tables and address traces for the FIB benchmark.
 *
 * A table is read from a file of `prefix/len` lines (gzip, detected by its
 * magic bytes, or plain; IPv4 and IPv6 mixed; blank lines and `#` comments
 * skipped; bad lines counted, never fatal; a duplicate replaces the earlier
 * line), by default the real BGP table in ../shared/data beside the project.
 * Without that file a synthetic table stands in: the same sizes and
 * prefix-length distribution (../shared/data/README.md), about half of the
 * prefixes nested inside a shorter one, no duplicates.
 *
 * Everything random comes from one seeded PRNG (splitmix32), so two runs
 * measure the same work. Next hops are a hash of the prefix into 0..255 (a
 * router has few adjacencies): the same prefix gets the same next hop
 * whatever table or sample it comes in.
 *
 * Traces are addresses in the FIB's own form (IPv4 one word, IPv6 four words
 * an address, in one Uint32Array): either drawn inside the table's prefixes
 * (a random prefix, random host bits) or uniform over the address space
 * (IPv6: over global unicast, 2000::/3).
 * Tables and traces can be exported as text for other implementations.
 */

import { once } from "node:events";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { finished } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { NaiveLpm4, NaiveLpm6 } from "../fib/naive.ts";
import {
  formatIPv4,
  formatIPv6,
  formatPrefix,
  mask4,
  mask6Word,
  parsePrefix,
  RouteListBuilder,
} from "../fib/prefix.ts";
import { type Family, NO_ROUTE, type RouteList, wordsOf } from "../fib/types.ts";

/** The real table, beside the project (never copied into it). */
export const DEFAULT_TABLE = fileURLToPath(
  new URL("../../shared/data/bgp-prefixes.txt.gz", import.meta.url),
);

/** splitmix32: a small, fast, seedable PRNG of 32-bit words. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform unsigned 32-bit integer. */
  next(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aada);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  }

  /** A uniform integer in 0..n-1 (n <= 2^32). */
  below(n: number): number {
    return Math.floor((this.next() / 0x100000000) * n);
  }
}

/** A benchmark table: one route list a family, and where it came from. */
export interface BenchTable {
  /** The file read, or "synthetic". */
  readonly source: string;
  readonly v4: RouteList;
  readonly v6: RouteList;
  /** Lines that did not parse as a prefix, and the first few of their numbers. */
  readonly skipped: number;
  readonly skippedLines: number[];
  readonly firstError?: string;
  /** Lines that repeated an earlier prefix (the later line is kept). */
  readonly duplicates: number;
}

/** The next hop a prefix is given: a hash of its words and length, in 0..255. */
export function nextHopOf(
  words: ArrayLike<number>,
  offset: number,
  family: Family,
  length: number,
): number {
  let h = length;
  for (let w = 0; w < wordsOf(family); w++) {
    h = Math.imul(h ^ words[offset + w], 0x9e3779b1);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
  return (h ^ (h >>> 16)) & 255;
}

/** The table in `file`, else the default real table if present, else a synthetic one. */
export function loadTable(file: string | undefined, seed: number): BenchTable {
  if (file !== undefined) return readTable(file);
  return existsSync(DEFAULT_TABLE) ? readTable(DEFAULT_TABLE) : syntheticTable(seed);
}

/** Builds a route list family by family, a repeated prefix replacing the earlier one. */
class TableBuilder {
  readonly family: Family;
  readonly routes: RouteListBuilder;
  private readonly index = new Map<string | number, number>();
  private readonly replaced: number[] = [];

  constructor(family: Family) {
    this.family = family;
    this.routes = new RouteListBuilder(family, 1 << 16);
  }

  get duplicates(): number {
    return this.replaced.length;
  }

  add(words: Uint32Array, length: number): void {
    const key =
      this.family === 4
        ? words[0] * 64 + length
        : `${words[0]},${words[1]},${words[2]},${words[3]}/${length}`;
    const earlier = this.index.get(key);
    if (earlier !== undefined) this.replaced.push(earlier);
    this.index.set(key, this.routes.count);
    this.routes.push(words, length, nextHopOf(words, 0, this.family, length));
  }

  build(): RouteList {
    if (this.replaced.length === 0) return this.routes.build();
    const gone = new Set(this.replaced);
    const w = wordsOf(this.family);
    const kept = new RouteListBuilder(this.family, this.routes.count - gone.size);
    for (let i = 0; i < this.routes.count; i++) {
      if (!gone.has(i))
        kept.push(this.routes.prefixes, this.routes.lengths[i], this.routes.nextHops[i], i * w);
    }
    return kept.build();
  }
}

/** How many bad line numbers a table remembers. */
const SKIPPED_SHOWN = 5;

/** Reads a table file (gzip or plain text). Throws only when the file cannot be read. */
export function readTable(file: string): BenchTable {
  let data = readFileSync(file);
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) data = gunzipSync(data);
  const text = data.toString("utf8");
  const v4 = new TableBuilder(4);
  const v6 = new TableBuilder(6);
  let skipped = 0;
  const skippedLines: number[] = [];
  let firstError: string | undefined;
  let lineNo = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    lineNo++;
    let line = text.slice(start, end);
    start = end + 1;
    const hash = line.indexOf("#");
    line = (hash >= 0 ? line.slice(0, hash) : line).trim();
    if (line === "") continue;
    const parsed = parsePrefix(line);
    if (!parsed.ok) {
      skipped++;
      if (skippedLines.length < SKIPPED_SHOWN) skippedLines.push(lineNo);
      firstError ??= parsed.error;
      continue;
    }
    const { family, words, length } = parsed.prefix;
    (family === 4 ? v4 : v6).add(words, length);
  }
  return {
    source: file,
    v4: v4.build(),
    v6: v6.build(),
    skipped,
    skippedLines,
    firstError,
    duplicates: v4.duplicates + v6.duplicates,
  };
}

/** Prefix lengths and their shares (percent), from ../shared/data/README.md. */
type LengthShares = ReadonlyArray<readonly [length: number, share: number]>;

/**
 * IPv4. The README groups "shorter" (0.5%) and "/25-/32" (0.1%); they are
 * spread here the way a real table spreads them (mostly /14-/15 and /32).
 */
const V4_SHARES: LengthShares = [
  [8, 0.002],
  [9, 0.0015],
  [10, 0.004],
  [11, 0.011],
  [12, 0.033],
  [13, 0.064],
  [14, 0.133],
  [15, 0.2315],
  [16, 1.5],
  [17, 0.9],
  [18, 1.5],
  [19, 2.8],
  [20, 4.7],
  [21, 5.6],
  [22, 12.0],
  [23, 10.7],
  [24, 59.6],
  [25, 0.002],
  [26, 0.0005],
  [27, 0.001],
  [28, 0.002],
  [29, 0.002],
  [30, 0.0005],
  [31, 0.0005],
  [32, 0.0915],
];

/**
 * IPv6. Grouped lengths are spread over their group as in a real table;
 * "other" (1%) is mostly /30, /31, /28 and /64.
 */
const V6_SHARES: LengthShares = [
  [20, 0.02],
  [24, 0.03],
  [28, 0.15],
  [29, 2.7],
  [30, 0.4],
  [31, 0.18],
  [32, 14.1],
  [33, 1.8],
  [34, 1.6],
  [35, 0.7],
  [36, 3.7],
  [37, 0.55],
  [38, 1.0],
  [39, 0.85],
  [40, 8.4],
  [41, 0.55],
  [42, 1.45],
  [43, 0.6],
  [44, 9.0],
  [45, 0.95],
  [46, 1.9],
  [47, 1.95],
  [48, 47.1],
  [56, 0.03],
  [64, 0.13],
  [127, 0.06],
];

/** Sizes of the real table. */
const SYNTHETIC_V4 = 901_899;
const SYNTHETIC_V6 = 160_147;
/** Share of synthetic prefixes placed inside a shorter one. */
const NESTED = 0.5;
/** Draws for a fresh place not covered by a shorter prefix before settling for a covered one. */
const FRESH_TRIES = 16;

export function syntheticTable(seed: number): BenchTable {
  const rng = new Rng(seed);
  return {
    source: "synthetic",
    v4: synthesize(4, SYNTHETIC_V4, V4_SHARES, rng),
    v6: synthesize(6, SYNTHETIC_V6, V6_SHARES, rng),
    skipped: 0,
    skippedLines: [],
    duplicates: 0,
  };
}

/** Route counts per length: `total` split by share, rounding put on the largest share. */
function countsOf(total: number, shares: LengthShares): number[] {
  const sum = shares.reduce((s, [, share]) => s + share, 0);
  const counts = shares.map(([, share]) => Math.round((share / sum) * total));
  let largest = 0;
  shares.forEach(([, share], i) => {
    if (share > shares[largest][1]) largest = i;
  });
  counts[largest] += total - counts.reduce((s, c) => s + c, 0);
  return counts;
}

/**
 * Generates the routes length by length, shortest first. A route is nested
 * (with probability NESTED) under a random shorter route, else placed at a
 * random spot of the used address space (IPv4 1/8-223/8, IPv6 2000::/4) that
 * no shorter route covers. A naive table holds what exists so far, to find
 * duplicates and coverage.
 */
function synthesize(family: Family, total: number, shares: LengthShares, rng: Rng): RouteList {
  const w = wordsOf(family);
  const oracle = family === 4 ? new NaiveLpm4() : new NaiveLpm6();
  const out = new RouteListBuilder(family, total);
  const words = new Uint32Array(w);
  const counts = countsOf(total, shares);
  shares.forEach(([length], li) => {
    const shorter = out.count;
    for (let made = 0; made < counts[li]; ) {
      const nested = shorter > 0 && rng.next() / 0x100000000 < NESTED;
      if (nested) {
        const parent = rng.below(shorter);
        for (let k = 0; k < w; k++) {
          const m = family === 4 ? mask4(out.lengths[parent]) : mask6Word(out.lengths[parent], k);
          words[k] = (out.prefixes[parent * w + k] & m) | (rng.next() & ~m);
        }
      } else {
        for (let tries = 0; tries < FRESH_TRIES; tries++) {
          for (let k = 0; k < w; k++) words[k] = rng.next();
          if (family === 4) words[0] = ((1 + rng.below(223)) << 24) | (words[0] & 0xffffff);
          else words[0] = 0x20000000 | (words[0] & 0x0fffffff);
          if (lookupIn(oracle, words) === NO_ROUTE) break;
        }
      }
      for (let k = 0; k < w; k++) {
        words[k] = (words[k] & (family === 4 ? mask4(length) : mask6Word(length, k))) >>> 0;
      }
      if (getIn(oracle, words, length) !== NO_ROUTE) continue;
      const nextHop = nextHopOf(words, 0, family, length);
      insertIn(oracle, words, length, nextHop);
      out.push(words, length, nextHop);
      made++;
    }
  });
  return out.build();
}

function lookupIn(table: NaiveLpm4 | NaiveLpm6, words: Uint32Array): number {
  return table instanceof NaiveLpm4 ? table.lookup(words[0]) : table.lookup(words);
}

function getIn(table: NaiveLpm4 | NaiveLpm6, words: Uint32Array, length: number): number {
  return table instanceof NaiveLpm4 ? table.get(words[0], length) : table.get(words, length);
}

function insertIn(table: NaiveLpm4 | NaiveLpm6, words: Uint32Array, length: number, nh: number) {
  if (table instanceof NaiveLpm4) table.insert(words[0], length, nh);
  else table.insert(words, length, nh);
}

/** A random sample of `count` routes (all of them if fewer), in their original order. */
export function sampleRoutes(routes: RouteList, count: number, rng: Rng): RouteList {
  if (count >= routes.count) return routes;
  const order = Uint32Array.from({ length: routes.count }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + rng.below(routes.count - i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const picked = order.subarray(0, count).sort();
  const w = wordsOf(routes.family);
  const out = new RouteListBuilder(routes.family, count);
  for (const i of picked) out.push(routes.prefixes, routes.lengths[i], routes.nextHops[i], i * w);
  return out.build();
}

/** `count` addresses each inside a random route of `routes` (random host bits). */
export function insideTrace(routes: RouteList, count: number, rng: Rng): Uint32Array {
  const w = wordsOf(routes.family);
  const trace = new Uint32Array(count * w);
  for (let i = 0; i < count; i++) {
    const r = rng.below(routes.count);
    const length = routes.lengths[r];
    for (let k = 0; k < w; k++) {
      const m = w === 1 ? mask4(length) : mask6Word(length, k);
      trace[i * w + k] = routes.prefixes[r * w + k] | (rng.next() & ~m);
    }
  }
  return trace;
}

/** `count` addresses uniform over the address space (IPv6: over 2000::/3). */
export function uniformTrace(family: Family, count: number, rng: Rng): Uint32Array {
  const w = wordsOf(family);
  const trace = new Uint32Array(count * w);
  for (let i = 0; i < trace.length; i++) trace[i] = rng.next();
  // IPv6: inside global unicast 2000::/3, the only space a real table covers;
  // uniform over all 128 bits nearly always misses at the first level.
  if (family === 6)
    for (let i = 0; i < trace.length; i += w) trace[i] = (trace[i] >>> 3) | 0x20000000;
  return trace;
}

/** Address `i` of a trace as text. */
export function addressText(family: Family, trace: Uint32Array, i: number): string {
  return family === 4 ? formatIPv4(trace[i]) : formatIPv6(trace, i * 4);
}

/** Writes `routes` as `prefix/len nexthop` lines. */
export function exportRoutes(file: string, routes: RouteList): Promise<void> {
  const w = wordsOf(routes.family);
  return writeLines(file, routes.count, (i) => {
    const prefix = formatPrefix(
      routes.family,
      routes.prefixes.subarray(i * w, i * w + w),
      routes.lengths[i],
    );
    return `${prefix} ${routes.nextHops[i]}`;
  });
}

/** Writes a trace as one address a line. */
export function exportTrace(file: string, family: Family, trace: Uint32Array): Promise<void> {
  return writeLines(file, trace.length / wordsOf(family), (i) => addressText(family, trace, i));
}

/** Streams `count` lines to `file` in 64 KiB chunks, waiting when the stream is full. */
async function writeLines(file: string, count: number, line: (i: number) => string): Promise<void> {
  const out = createWriteStream(file);
  let chunk = "";
  for (let i = 0; i < count; i++) {
    chunk += `${line(i)}\n`;
    if (chunk.length >= 1 << 16) {
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  out.end(chunk);
  await finished(out);
}

/**
 * The table's distinct prefixes per family as text, in file order (for
 * BIRD's route files); the synthetic table when the file is missing.
 */
export function tablePrefixLines(file: string): { v4: string[]; v6: string[]; source: string } {
  if (existsSync(file)) {
    const text = gunzipSync(readFileSync(file)).toString("latin1");
    const seen = new Set<string>();
    const v4: string[] = [];
    const v6: string[] = [];
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#") || seen.has(line)) continue;
      seen.add(line);
      (line.includes(":") ? v6 : v4).push(line);
    }
    return { v4, v6, source: file };
  }
  const t = syntheticTable(1);
  const s4 = new Set<string>();
  const s6 = new Set<string>();
  for (let i = 0; i < t.v4.count; i++)
    s4.add(formatPrefix(4, t.v4.prefixes.subarray(i, i + 1), t.v4.lengths[i]));
  for (let i = 0; i < t.v6.count; i++)
    s6.add(formatPrefix(6, t.v6.prefixes.subarray(i * 4, i * 4 + 4), t.v6.lengths[i]));
  return { v4: [...s4], v6: [...s6], source: "synthetic" };
}
