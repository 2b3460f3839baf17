/**
 * The measurements behind the FIB's design (docs/FIB.md):
 * `npm run bench:fib-design -- [--table FILE] [--json]`.
 *
 * On one table and one trace inside its prefixes, in one process, it builds
 * each candidate and measures batch lookups per second (best of several
 * passes over the trace), build time and bytes: Poptrie at several widths of
 * its direct-pointing array for each family, and DIR-24-8 (bench/dir24-8.ts)
 * for IPv4. Every candidate's answers are checked against the default
 * Poptrie's before its figures count.
 */
import { parseArgs } from "node:util";
import { Poptrie4, Poptrie6 } from "../fib/poptrie.ts";
import type { RouteList } from "../fib/types.ts";
import { Dir24x8 } from "./dir24-8.ts";
import { insideTrace, loadTable, Rng } from "./table.ts";

interface Candidate {
  name: string;
  load(routes: RouteList): void;
  lookupBatch(addrs: Uint32Array, out: Uint16Array): void;
  bytes(): number;
  lookupBytes(): number;
}

interface Row {
  family: 4 | 6;
  name: string;
  lookupsPerSec: number;
  buildSeconds: number;
  bytes: number;
  lookupBytes: number;
}

const PASSES = 7;

function seconds(work: () => void): number {
  const t = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function measure(
  family: 4 | 6,
  c: Candidate,
  routes: RouteList,
  trace: Uint32Array,
  expected: Uint16Array,
): Row {
  const buildSeconds = seconds(() => c.load(routes));
  const out = new Uint16Array(expected.length);
  c.lookupBatch(trace, out);
  for (let i = 0; i < out.length; i++) {
    if (out[i] !== expected[i])
      throw new Error(`${c.name}: answer ${i} is ${out[i]}, expected ${expected[i]}`);
  }
  let best = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    best = Math.max(best, out.length / seconds(() => c.lookupBatch(trace, out)));
  }
  return {
    family,
    name: c.name,
    lookupsPerSec: best,
    buildSeconds,
    bytes: c.bytes(),
    lookupBytes: c.lookupBytes(),
  };
}

function poptrie4(directBits: number): Candidate {
  const t = new Poptrie4({ directBits });
  return Object.assign(t, { name: `poptrie, ${directBits} direct bits` });
}

function poptrie6(directBits: number): Candidate {
  const t = new Poptrie6({ directBits });
  return Object.assign(t, { name: `poptrie, ${directBits} direct bits` });
}

function dir24x8(): Candidate {
  const t = new Dir24x8();
  return Object.assign(t, { name: "DIR-24-8", lookupBytes: () => t.bytes() });
}

function main(): void {
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (e) {
    console.error(`bench:fib-design: ${(e as Error).message}`);
    process.exit(2);
  }
  const table = loadTable(args.values.table, 1);
  const rng = new Rng(2);
  const trace4 = insideTrace(table.v4, 2_000_000, rng);
  const trace6 = insideTrace(table.v6, 1_000_000, rng);
  const reference4 = new Poptrie4();
  reference4.load(table.v4);
  const expected4 = new Uint16Array(trace4.length);
  reference4.lookupBatch(trace4, expected4);
  const reference6 = new Poptrie6();
  reference6.load(table.v6);
  const expected6 = new Uint16Array(trace6.length / 4);
  reference6.lookupBatch(trace6, expected6);

  const rows: Row[] = [];
  for (const make of [
    () => poptrie4(16),
    () => poptrie4(18),
    () => poptrie4(19),
    () => poptrie4(20),
    dir24x8,
  ]) {
    const c = make();
    console.error(`measuring IPv4 ${c.name}`);
    rows.push(measure(4, c, table.v4, trace4, expected4));
  }
  for (const bits of [16, 18, 20]) {
    const c = poptrie6(bits);
    console.error(`measuring IPv6 ${c.name}`);
    rows.push(measure(6, c, table.v6, trace6, expected6));
  }
  if (args.values.json) {
    console.log(
      JSON.stringify(
        { table: table.source, routes4: table.v4.count, routes6: table.v6.count, rows },
        null,
        2,
      ),
    );
    return;
  }
  console.log(
    `table: ${table.source} (${table.v4.count} IPv4, ${table.v6.count} IPv6); trace inside prefixes`,
  );
  console.log("| family | structure | batch lookups/s | build | lookup arrays | all bytes |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  for (const r of rows) {
    console.log(
      `| IPv${r.family} | ${r.name} | ${(r.lookupsPerSec / 1e6).toFixed(1)} M | ${r.buildSeconds.toFixed(3)} s | ${mib(r.lookupBytes)} | ${mib(r.bytes)} |`,
    );
  }
}

function parse() {
  return parseArgs({
    options: { table: { type: "string" }, json: { type: "boolean", default: false } },
    allowPositionals: false,
  });
}

main();
