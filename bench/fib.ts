/**
 * The FIB benchmark: `npm run bench:fib -- [--json] [--quick] [--table FILE] [--export DIR]`.
 *
 * For IPv4 and IPv6 separately it measures the table under test (UNDER_TEST,
 * the one place that names it): bulk build time (best of a few `load`s into
 * a fresh table), batch lookups over a trace inside the table's prefixes and
 * over a uniform trace, one-by-one `lookup` calls, single-route updates
 * (rounds that delete random routes, re-insert them with another next hop and
 * put the old next hop back; the table must come out as it went in) and its
 * memory. The same run measures peers side by side: the naive reference and
 * two npm packages, which take addresses as text, converted before timing
 * and looked up over a prefix of the trace; every peer's answers are checked
 * against the table under test, mismatches reported as a count.
 *
 * Lookup throughput comes from benny (one op = BATCH lookups, walking the
 * trace); build and update times from process.hrtime.bigint() around the
 * real work. The report is a readable table, or with --json one JSON object
 * on stdout; progress goes to stderr. Traces and tables come from
 * bench/table.ts and are seeded, so runs are reproducible.
 */
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { add, suite } from "benny";
import { NaiveLpm4, NaiveLpm6 } from "../fib/naive.ts";
import { Poptrie4, Poptrie6 } from "../fib/poptrie.ts";
import {
  type Family,
  type Lpm4,
  type Lpm6,
  type LpmTable,
  NO_ROUTE,
  type RouteList,
  wordsOf,
} from "../fib/types.ts";
import {
  addressText,
  type BenchTable,
  exportRoutes,
  exportTrace,
  insideTrace,
  loadTable,
  Rng,
  sampleRoutes,
  uniformTrace,
} from "./table.ts";

const USAGE = "usage: npm run bench:fib -- [--json] [--quick] [--table FILE] [--export DIR]";

/** The table under test: the one place that names its implementation. */
const UNDER_TEST = {
  name: "poptrie",
  create4: (): Lpm4 => new Poptrie4(),
  create6: (): Lpm6 => new Poptrie6(),
};

/** How much work a run does. */
interface Plan {
  /** Addresses in each lookup trace. */
  readonly trace: Record<Family, number>;
  /** Addresses the peers look up (the start of the inside trace). */
  readonly peerTrace: Record<Family, number>;
  /** Routes sampled from the table (quick runs only). */
  readonly sample?: Record<Family, number>;
  /** Time spent in update rounds, seconds. */
  readonly updateSeconds: number;
  /** benny case options. */
  readonly bench: { readonly maxTime: number; readonly minSamples: number };
}

const FULL: Plan = {
  trace: { 4: 2_000_000, 6: 1_000_000 },
  peerTrace: { 4: 200_000, 6: 100_000 },
  updateSeconds: 2,
  bench: { maxTime: 4, minSamples: 5 },
};

const QUICK: Plan = {
  trace: { 4: 200_000, 6: 100_000 },
  peerTrace: { 4: 20_000, 6: 10_000 },
  sample: { 4: 50_000, 6: 10_000 },
  updateSeconds: 0.3,
  bench: { maxTime: 0.3, minSamples: 2 },
};

/** Exported traces are at least this long, whatever the plan. */
const EXPORT_TRACE: Record<Family, number> = { 4: 2_000_000, 6: 1_000_000 };
/** Lookups in one benny op. */
const BATCH = 1024;
/** Bulk builds timed; the best counts. */
const BUILD_RUNS = 3;
/** Routes changed in one update round. */
const UPDATE_ROUND = 1000;
/** Seed of every random stream (each stream adds its own offset). */
const SEED = 0x5eed;

/** How the measurements reach one family's table under test. */
interface Subject<A, T extends LpmTable<A>> {
  readonly family: Family;
  create(): T;
  prefixAt(routes: RouteList, i: number): A;
  /** Looks up addresses [from, from + n) of `trace` one `lookup` call each, into out[0..n). */
  lookupEach(table: T, trace: Uint32Array, from: number, n: number, out: Uint16Array): void;
}

const SUBJECT4: Subject<number, Lpm4> = {
  family: 4,
  create: UNDER_TEST.create4,
  prefixAt: (routes, i) => routes.prefixes[i],
  lookupEach(table, trace, from, n, out) {
    for (let i = 0; i < n; i++) out[i] = table.lookup(trace[from + i]);
  },
};

const SUBJECT6: Subject<ArrayLike<number>, Lpm6> = {
  family: 6,
  create: UNDER_TEST.create6,
  prefixAt: (routes, i) => routes.prefixes.subarray(i * 4, i * 4 + 4),
  lookupEach(table, trace, from, n, out) {
    for (let i = 0; i < n; i++) out[i] = table.lookup(trace, (from + i) * 4);
  },
};

interface FamilyResult {
  lookupsPerSec: number;
  lookupsPerSecUniform: number;
  singleLookupsPerSec: number;
  buildSeconds: number;
  updatesPerSec: number;
  updates: number;
  bytes: number;
  routes: number;
  /** Shares of trace addresses that some route covers. */
  hitRate: number;
  hitRateUniform: number;
  /** Addresses where `lookup` and `lookupBatch` answered differently. */
  batchSingleMismatches: number;
  /** Differences after the update rounds: size, routes (`get`) and trace answers. */
  afterUpdateMismatches: number;
}

interface PeerFamilyResult {
  lookupsPerSec: number;
  buildSeconds: number;
  /** Addresses compared with the table under test, and how many answers differed. */
  checked: number;
  mismatches: number;
}

type PeerResult =
  | {
      routes: Record<"ipv4" | "ipv6", number>;
      ipv4: PeerFamilyResult;
      ipv6: PeerFamilyResult;
    }
  | { unavailable: string };

/** Answers addresses [from, from + n) of a prepared trace into out[0..n). */
type RangeLookup = (from: number, n: number, out: Uint16Array) => void;

/**
 * Converts routes and trace into a peer's input forms (not timed) and returns
 * its build step (timed), which returns its lookups.
 */
type PeerPrepare = (family: Family, routes: RouteList, trace: Uint32Array) => () => RangeLookup;

interface Peer {
  readonly name: string;
  /** Counts for the ratio (an npm package rather than our own reference). */
  readonly npm: boolean;
  /** Loads the peer's code; throws when it is not installed or did not build. */
  load(): PeerPrepare;
}

const require = createRequire(import.meta.url);

/** The routes' prefix addresses as text. */
function routeTexts(routes: RouteList): string[] {
  return Array.from({ length: routes.count }, (_, i) =>
    addressText(routes.family, routes.prefixes, i),
  );
}

/** The trace's addresses as text. */
function traceTexts(family: Family, trace: Uint32Array): string[] {
  return Array.from({ length: trace.length / wordsOf(family) }, (_, i) =>
    addressText(family, trace, i),
  );
}

const PEERS: readonly Peer[] = [
  {
    name: "naive",
    npm: false,
    load: () => (family, routes, trace) => () => {
      const table = family === 4 ? new NaiveLpm4() : new NaiveLpm6();
      table.load(routes);
      const w = wordsOf(family);
      return (from, n, out) => table.lookupBatch(trace.subarray(from * w, (from + n) * w), out, n);
    },
  },
  {
    // Prefixes and addresses as CIDR text; an address is looked up as a host route.
    name: "longest-prefix-match",
    npm: true,
    load() {
      const LongestPrefixMatch: new () => {
        addPrefix(prefix: string, data: number): void;
        getMatch(prefix: string): number[];
      } = require("longest-prefix-match");
      return (family, routes, trace) => {
        const prefixes = routeTexts(routes).map((text, i) => `${text}/${routes.lengths[i]}`);
        const host = family === 4 ? "/32" : "/128";
        const addrs = traceTexts(family, trace).map((text) => text + host);
        return () => {
          const table = new LongestPrefixMatch();
          for (let i = 0; i < routes.count; i++) table.addPrefix(prefixes[i], routes.nextHops[i]);
          return (from, n, out) => {
            for (let i = 0; i < n; i++) out[i] = table.getMatch(addrs[from + i])[0] ?? NO_ROUTE;
          };
        };
      };
    },
  },
  {
    // A native addon: address text and length apart; find() answers undefined on a miss.
    name: "arkime-iptrie",
    npm: true,
    load() {
      const {
        IPTrie,
      }: {
        IPTrie: new () => {
          add(addr: string, length: number, data: number): void;
          find(addr: string): number | undefined;
        };
      } = require("arkime-iptrie");
      return (family, routes, trace) => {
        const prefixes = routeTexts(routes);
        const addrs = traceTexts(family, trace);
        return () => {
          const table = new IPTrie();
          for (let i = 0; i < routes.count; i++) {
            table.add(prefixes[i], routes.lengths[i], routes.nextHops[i]);
          }
          return (from, n, out) => {
            for (let i = 0; i < n; i++) out[i] = table.find(addrs[from + i]) ?? NO_ROUTE;
          };
        };
      };
    },
  },
];

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Ops per second of `op` under benny, silenced (it announces suites on stdout). */
async function opsPerSec(name: string, op: () => void, plan: Plan): Promise<number> {
  const log = console.log;
  console.log = () => {};
  try {
    const summary = await suite(name, add(name, op, plan.bench));
    return summary.results[0].ops;
  } finally {
    console.log = log;
  }
}

/** Lookups per second of `lookup`, run BATCH addresses at a time along a trace of `n`. */
async function lookupsPerSec(name: string, n: number, lookup: RangeLookup, plan: Plan) {
  const out = new Uint16Array(BATCH);
  let from = 0;
  const ops = await opsPerSec(
    name,
    () => {
      lookup(from, BATCH, out);
      from = from + 2 * BATCH > n ? 0 : from + BATCH;
    },
    plan,
  );
  const rate = ops * BATCH;
  progress(`  ${name}: ${formatRate(rate)} lookups/s`);
  return rate;
}

/**
 * Best time of BUILD_RUNS runs of `build` (timed) on what `fresh` (not timed)
 * makes, and the last thing built.
 */
function timeBuild<S, T>(fresh: () => S, build: (start: S) => T): { seconds: number; built: T } {
  let seconds = Number.POSITIVE_INFINITY;
  let built: T | undefined;
  for (let run = 0; run < BUILD_RUNS; run++) {
    built = undefined;
    const start = fresh();
    const t0 = process.hrtime.bigint();
    built = build(start);
    seconds = Math.min(seconds, secondsSince(t0));
  }
  return { seconds, built: built! };
}

function countDiffering(a: Uint16Array, b: Uint16Array, n = a.length): number {
  let diff = 0;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) diff++;
  return diff;
}

function hitRate(answers: Uint16Array): number {
  let hits = 0;
  for (const nh of answers) if (nh !== NO_ROUTE) hits++;
  return hits / answers.length;
}

/** Measures one family of the table under test; also returns its answers on the inside trace. */
async function measureOurs<A, T extends LpmTable<A>>(
  subject: Subject<A, T>,
  routes: RouteList,
  inside: Uint32Array,
  uniform: Uint32Array,
  plan: Plan,
): Promise<{ result: FamilyResult; answers: Uint16Array }> {
  const label = `${UNDER_TEST.name} IPv${subject.family}`;
  const w = wordsOf(subject.family);
  const n = inside.length / w;
  const { seconds: buildSeconds, built: table } = timeBuild(subject.create, (fresh) => {
    fresh.load(routes);
    return fresh;
  });
  progress(`  ${label}: built ${table.size} routes in ${buildSeconds.toFixed(3)} s`);

  const answers = new Uint16Array(n);
  table.lookupBatch(inside, answers);
  const uniformAnswers = new Uint16Array(uniform.length / w);
  table.lookupBatch(uniform, uniformAnswers);
  const each = new Uint16Array(n);
  subject.lookupEach(table, inside, 0, n, each);

  const batchOver = (trace: Uint32Array): RangeLookup => {
    const chunks = Array.from({ length: Math.floor(trace.length / w / BATCH) }, (_, k) =>
      trace.subarray(k * BATCH * w, (k + 1) * BATCH * w),
    );
    return (from, _n, out) => table.lookupBatch(chunks[from / BATCH], out);
  };
  const lookupsPerSecInside = await lookupsPerSec(
    `${label} batch inside`,
    n,
    batchOver(inside),
    plan,
  );
  const lookupsPerSecUniform = await lookupsPerSec(
    `${label} batch uniform`,
    uniformAnswers.length,
    batchOver(uniform),
    plan,
  );
  const singleLookupsPerSec = await lookupsPerSec(
    `${label} single inside`,
    n,
    (from, count, out) => subject.lookupEach(table, inside, from, count, out),
    plan,
  );
  const size = table.size;
  const bytes = table.bytes();
  const updates = measureUpdates(subject, table, routes, inside, answers, plan);
  progress(`  ${label}: ${formatRate(updates.perSec)} updates/s`);
  return {
    answers,
    result: {
      lookupsPerSec: Math.round(lookupsPerSecInside),
      lookupsPerSecUniform: Math.round(lookupsPerSecUniform),
      singleLookupsPerSec: Math.round(singleLookupsPerSec),
      buildSeconds: round(buildSeconds, 4),
      updatesPerSec: Math.round(updates.perSec),
      updates: updates.count,
      bytes,
      routes: size,
      hitRate: round(hitRate(answers), 4),
      hitRateUniform: round(hitRate(uniformAnswers), 4),
      batchSingleMismatches: countDiffering(answers, each),
      afterUpdateMismatches: updates.mismatches,
    },
  };
}

/**
 * Update rounds on the full table until plan.updateSeconds of update time:
 * UPDATE_ROUND distinct random routes are deleted, re-inserted with another
 * next hop, then given their own next hop back (three updates a route). Only
 * the updates are timed. Afterwards the table must hold exactly `routes`
 * and answer the inside trace as before; differences are counted.
 */
function measureUpdates<A, T extends LpmTable<A>>(
  subject: Subject<A, T>,
  table: T,
  routes: RouteList,
  inside: Uint32Array,
  answers: Uint16Array,
  plan: Plan,
): { perSec: number; count: number; mismatches: number } {
  const rng = new Rng(SEED + 10 + subject.family);
  const order = Uint32Array.from({ length: routes.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const perRound = Math.min(UPDATE_ROUND, routes.count);
  const prefixes: A[] = [];
  const lengths = new Uint8Array(perRound);
  const nextHops = new Uint16Array(perRound);
  let mismatches = 0;
  let count = 0;
  let seconds = 0;
  for (let next = 0; seconds < plan.updateSeconds; ) {
    for (let j = 0; j < perRound; j++, next = (next + 1) % order.length) {
      prefixes[j] = subject.prefixAt(routes, order[next]);
      lengths[j] = routes.lengths[order[next]];
      nextHops[j] = routes.nextHops[order[next]];
    }
    const start = process.hrtime.bigint();
    for (let j = 0; j < perRound; j++) if (!table.delete(prefixes[j], lengths[j])) mismatches++;
    for (let j = 0; j < perRound; j++)
      table.insert(prefixes[j], lengths[j], (nextHops[j] + 1) & 255);
    for (let j = 0; j < perRound; j++) table.insert(prefixes[j], lengths[j], nextHops[j]);
    seconds += secondsSince(start);
    count += 3 * perRound;
  }
  mismatches += Math.abs(table.size - routes.count);
  for (let i = 0; i < routes.count; i++) {
    if (table.get(subject.prefixAt(routes, i), routes.lengths[i]) !== routes.nextHops[i])
      mismatches++;
  }
  const after = new Uint16Array(answers.length);
  table.lookupBatch(inside, after);
  mismatches += countDiffering(answers, after);
  return { perSec: count / seconds, count, mismatches };
}

/** Measures one family of a peer over the first `n` addresses of the inside trace. */
async function measurePeer(
  peer: Peer,
  prepare: PeerPrepare,
  family: Family,
  routes: RouteList,
  trace: Uint32Array,
  answers: Uint16Array,
  plan: Plan,
): Promise<PeerFamilyResult> {
  const label = `${peer.name} IPv${family}`;
  const n = trace.length / wordsOf(family);
  const build = prepare(family, routes, trace);
  const { seconds, built: lookup } = timeBuild(
    () => build,
    (run) => run(),
  );
  progress(`  ${label}: built ${routes.count} routes in ${seconds.toFixed(3)} s`);
  const out = new Uint16Array(n);
  lookup(0, n, out);
  const mismatches = countDiffering(out, answers, n);
  if (mismatches > 0)
    progress(`  ${label}: ${mismatches} of ${n} answers differ from ${UNDER_TEST.name}`);
  return {
    lookupsPerSec: Math.round(await lookupsPerSec(`${label} lookups`, n, lookup, plan)),
    buildSeconds: round(seconds, 4),
    checked: n,
    mismatches,
  };
}

function round(x: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(x * scale) / scale;
}

function formatRate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(1)} k`;
}

function formatCount(x: number): string {
  return x.toLocaleString("en-US");
}

/** Parses the command line; a bad one ends the process with exit code 2. */
function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        json: { type: "boolean", default: false },
        quick: { type: "boolean", default: false },
        table: { type: "string" },
        export: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    process.stderr.write(`bench:fib: ${(error as Error).message} (${USAGE})\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const args = parseCommandLine();
  const plan = args.quick ? QUICK : FULL;

  let table: BenchTable;
  try {
    table = loadTable(args.table, SEED);
  } catch (error) {
    process.stderr.write(`bench:fib: cannot read table: ${(error as Error).message}\n`);
    process.exit(1);
  }
  if (table.v4.count === 0 || table.v6.count === 0) {
    process.stderr.write(`bench:fib: ${table.source} needs both IPv4 and IPv6 routes\n`);
    process.exit(1);
  }
  progress(
    `table ${table.source}: ${table.v4.count} IPv4 + ${table.v6.count} IPv6 routes` +
      (table.skipped > 0
        ? `; skipped ${table.skipped} bad lines (lines ${table.skippedLines.join(", ")}${table.skipped > table.skippedLines.length ? ", ..." : ""}; first: ${table.firstError})`
        : "") +
      (table.duplicates > 0 ? `; ${table.duplicates} duplicates replaced` : ""),
  );

  const routes: Record<Family, RouteList> = { 4: table.v4, 6: table.v6 };
  if (plan.sample) {
    routes[4] = sampleRoutes(table.v4, plan.sample[4], new Rng(SEED + 1));
    routes[6] = sampleRoutes(table.v6, plan.sample[6], new Rng(SEED + 2));
    progress(`quick: sampled ${routes[4].count} IPv4 + ${routes[6].count} IPv6 routes`);
  }
  const inside: Record<Family, Uint32Array> = { 4: new Uint32Array(), 6: new Uint32Array() };
  const uniform: Record<Family, Uint32Array> = { 4: new Uint32Array(), 6: new Uint32Array() };
  for (const family of [4, 6] as const) {
    const length = Math.max(plan.trace[family], args.export ? EXPORT_TRACE[family] : 0);
    const full = insideTrace(routes[family], length, new Rng(SEED + 3 + family));
    if (args.export) await exportFamily(args.export, family, routes[family], full);
    inside[family] = full.subarray(0, plan.trace[family] * wordsOf(family));
    uniform[family] = uniformTrace(family, plan.trace[family], new Rng(SEED + 5 + family));
  }

  progress(`measuring ${UNDER_TEST.name}`);
  const ours4 = await measureOurs(SUBJECT4, routes[4], inside[4], uniform[4], plan);
  const ours6 = await measureOurs(SUBJECT6, routes[6], inside[6], uniform[6], plan);
  const answers: Record<Family, Uint16Array> = { 4: ours4.answers, 6: ours6.answers };

  const peers: Record<string, PeerResult> = {};
  for (const peer of PEERS) {
    progress(`measuring peer ${peer.name}`);
    let prepare: PeerPrepare;
    try {
      prepare = peer.load();
    } catch (error) {
      const reason = (error as Error).message.split("\n")[0];
      progress(`  ${peer.name}: unavailable: ${reason}`);
      peers[peer.name] = { unavailable: reason };
      continue;
    }
    const measure = (family: Family) =>
      measurePeer(
        peer,
        prepare,
        family,
        routes[family],
        inside[family].subarray(0, plan.peerTrace[family] * wordsOf(family)),
        answers[family],
        plan,
      );
    peers[peer.name] = {
      routes: { ipv4: routes[4].count, ipv6: routes[6].count },
      ipv4: await measure(4),
      ipv6: await measure(6),
    };
  }

  const report: Report = {
    fib: UNDER_TEST.name,
    quick: args.quick,
    table: {
      source: table.source,
      ipv4: table.v4.count,
      ipv6: table.v6.count,
      skippedLines: table.skipped,
      duplicates: table.duplicates,
      sample: plan.sample ? { ipv4: routes[4].count, ipv6: routes[6].count } : null,
    },
    machine: {
      node: process.version,
      cpu: os.cpus()[0]?.model ?? "unknown",
      cpus: os.cpus().length,
    },
    traces: {
      ipv4: plan.trace[4],
      ipv6: plan.trace[6],
      peerIpv4: plan.peerTrace[4],
      peerIpv6: plan.peerTrace[6],
      batch: BATCH,
    },
    ipv4: ours4.result,
    ipv6: ours6.result,
    peers,
    ratios: {
      ipv4: ratioOf(ours4.result, peers, "ipv4"),
      ipv6: ratioOf(ours6.result, peers, "ipv6"),
    },
    seconds: round(secondsSince(started), 1),
  };
  process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
}

/** Our batch lookups/s over the best npm peer's, in the same run. */
function ratioOf(ours: FamilyResult, peers: Record<string, PeerResult>, family: "ipv4" | "ipv6") {
  let best: { name: string; rate: number } | undefined;
  for (const peer of PEERS) {
    const result = peers[peer.name];
    if (!peer.npm || !result || "unavailable" in result) continue;
    const rate = result[family].lookupsPerSec;
    if (!best || rate > best.rate) best = { name: peer.name, rate };
  }
  return best
    ? { vsBestPeer: round(ours.lookupsPerSec / best.rate, 1), bestPeer: best.name }
    : { vsBestPeer: null, bestPeer: null };
}

async function exportFamily(dir: string, family: Family, routes: RouteList, trace: Uint32Array) {
  mkdirSync(dir, { recursive: true });
  await exportRoutes(join(dir, `routes${family}.txt`), routes);
  await exportTrace(join(dir, `trace${family}.txt`), family, trace);
  progress(
    `exported ${routes.count} IPv${family} routes and ${trace.length / wordsOf(family)} addresses to ${dir}`,
  );
}

type Report = {
  fib: string;
  quick: boolean;
  table: {
    source: string;
    ipv4: number;
    ipv6: number;
    skippedLines: number;
    duplicates: number;
    sample: { ipv4: number; ipv6: number } | null;
  };
  machine: { node: string; cpu: string; cpus: number };
  traces: { ipv4: number; ipv6: number; peerIpv4: number; peerIpv6: number; batch: number };
  ipv4: FamilyResult;
  ipv6: FamilyResult;
  peers: Record<string, PeerResult>;
  ratios: Record<"ipv4" | "ipv6", { vsBestPeer: number | null; bestPeer: string | null }>;
  seconds: number;
};

/** The readable report: one column a family. */
function formatReport(r: Report): string {
  const rows: string[][] = [];
  const row = (name: string, f: (x: FamilyResult) => string) =>
    rows.push([name, f(r.ipv4), f(r.ipv6)]);
  row("batch lookups/s, inside", (x) => formatRate(x.lookupsPerSec));
  row("batch lookups/s, uniform", (x) => formatRate(x.lookupsPerSecUniform));
  row("single lookups/s, inside", (x) => formatRate(x.singleLookupsPerSec));
  row("build (best of 3)", (x) => `${x.buildSeconds.toFixed(3)} s`);
  row("updates/s", (x) => formatRate(x.updatesPerSec));
  row("memory", (x) => `${(x.bytes / 1e6).toFixed(1)} MB`);
  row("routes", (x) => formatCount(x.routes));
  row("hit rate, inside / uniform", (x) => `${pct(x.hitRate)} / ${pct(x.hitRateUniform)}`);
  row("check: batch vs single", (x) => `${x.batchSingleMismatches} differ`);
  row("check: after updates", (x) => `${x.afterUpdateMismatches} differ`);
  rows.push(["peers: lookups/s (build)", "", ""]);
  for (const [name, peer] of Object.entries(r.peers)) {
    if ("unavailable" in peer) {
      rows.push([`  ${name}`, "unavailable", ""]);
      continue;
    }
    const cell = (x: PeerFamilyResult) =>
      `${formatRate(x.lookupsPerSec)} (${x.buildSeconds.toFixed(3)} s)` +
      (x.mismatches > 0 ? ` ${x.mismatches}/${x.checked} differ` : "");
    rows.push([`  ${name}`, cell(peer.ipv4), cell(peer.ipv6)]);
  }
  const ratio = (x: { vsBestPeer: number | null; bestPeer: string | null }) =>
    x.vsBestPeer === null ? "n/a" : `x${x.vsBestPeer} (${x.bestPeer})`;
  rows.push([`${r.fib} / best npm peer`, ratio(r.ratios.ipv4), ratio(r.ratios.ipv6)]);

  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((cells) => cells[c].length)));
  const sample = r.table.sample
    ? ` (quick: sample of ${formatCount(r.table.sample.ipv4)} + ${formatCount(r.table.sample.ipv6)})`
    : "";
  return [
    `FIB benchmark: ${r.fib}${r.quick ? ", quick run" : ""}`,
    `table:   ${r.table.source}: ${formatCount(r.table.ipv4)} IPv4 + ${formatCount(r.table.ipv6)} IPv6 routes${sample}`,
    `machine: node ${r.machine.node}, ${r.machine.cpu} x ${r.machine.cpus}`,
    `traces:  ${formatCount(r.traces.ipv4)} IPv4 + ${formatCount(r.traces.ipv6)} IPv6 addresses (peers: the first ${formatCount(r.traces.peerIpv4)} + ${formatCount(r.traces.peerIpv6)})`,
    "",
    ["", "IPv4", "IPv6"]
      .map((cell, c) => cell.padEnd(widths[c]))
      .join("   ")
      .trimEnd(),
    ...rows.map((cells) =>
      cells
        .map((cell, c) => cell.padEnd(widths[c]))
        .join("   ")
        .trimEnd(),
    ),
    "",
    `${r.seconds} s`,
    "",
  ].join("\n");
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

await main();
