/**
 * The replay benchmark: `npm run bench:replay -- [--packets N] [--table FILE] [--runs N]
 * [--dir DIR] [--json] [--keep]`.
 *
 * Generates a large capture (default 3 M packets, raw IP, microsecond
 * timestamps one per packet, so no two packets share a batch: the replay's
 * worst case) in a temporary directory (in /dev/shm when there is one, so
 * the figure is the program's cost and not the disk's write bandwidth; else
 * the system's temporary directory; or `--dir DIR`), then replays it
 * through a router with `tools/replay/engine.ts` exactly as `vroom replay`
 * does, writing every interface's pcap, and reports packets per second end
 * to end (reading, forwarding, writing) and for the forwarding step alone.
 * The best of `--runs` runs is reported (each on a fresh router).
 *
 * Traffic mix (seeded, reproducible): IPv4 UDP 35 %, TCP 25 %, ICMP echo
 * 10 %; IPv6 UDP 14 %, TCP 10 %, ICMPv6 echo 5 %; 1 % with TTL / hop limit
 * 1 (answered with rate-limited ICMP errors). Sizes follow a simple IMIX
 * (7:4:1 of 64, 576 and 1500-byte IP packets). The router takes them on an
 * L3 interface and forwards them out of an L2 interface (static
 * neighbours, so every packet is framed) or, for 203.0.113.0/24 and
 * 2001:db8:cafe::/48, an L3 one. `--table FILE` adds a prefix list (e.g.
 * the shared BGP table) through the L2 gateway, so lookups run against a
 * full FIB.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseRouterConfig } from "../router/config.ts";
import { internetChecksum } from "../router/wire/checksum.ts";
import { replay } from "../tools/replay/engine.ts";
import { addPrefixList, readPrefixList } from "../tools/replay/snapshot.ts";
import type { ReplaySummary } from "../tools/replay/summary.ts";
import { PcapWriter } from "../tools/replay/writer.ts";

const CONFIG = {
  name: "bench",
  interfaces: [
    { name: "in0", layer: "l3", addresses: ["198.18.0.1/24", "2001:db8:0::1/64"] },
    {
      name: "out1",
      layer: "l2",
      mac: "02:00:00:00:01:01",
      addresses: ["198.18.1.1/24", "2001:db8:1::1/64"],
    },
    { name: "out2", layer: "l3", addresses: ["198.18.2.1/24", "2001:db8:2::1/64"] },
  ],
  staticRoutes: [
    { prefix: "198.18.64.0/18", via: "198.18.1.2" },
    { prefix: "2001:db8:64::/48", via: "2001:db8:1::2" },
    { prefix: "203.0.113.0/24", via: "198.18.2.2" },
    { prefix: "2001:db8:cafe::/48", via: "2001:db8:2::2" },
  ],
};

const NEIGHBORS = [
  { iface: "out1", address: "198.18.1.2", mac: "02:00:00:00:01:02" },
  { iface: "out1", address: "2001:db8:1::2", mac: "02:00:00:00:01:02" },
];

/** xorshift32, seeded. */
class Rng {
  constructor(private s: number) {}
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
}

const SIZES = [64, 64, 64, 64, 64, 64, 64, 576, 576, 576, 576, 1500];

/** An IPv4 packet of `size` bytes (protocol 17, 6 or 1) into `p`; addresses filled later. */
function v4(p: Uint8Array, size: number, protocol: number, ttl: number): void {
  p.fill(0, 0, size);
  p[0] = 0x45;
  p[2] = size >>> 8;
  p[3] = size & 0xff;
  p[6] = 0x40;
  p[8] = ttl;
  p[9] = protocol;
  p.set([198, 18, 0, 9], 12);
  if (protocol === 17) p.set([0x30, 0x39, 0, 53, (size - 20) >>> 8, (size - 20) & 0xff], 20);
  if (protocol === 6)
    p.set([0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff], 20);
  if (protocol === 1) p.set([8, 0, 0, 0, 0, 1, 0, 1], 20);
}

function v6(p: Uint8Array, size: number, next: number, hop: number): void {
  p.fill(0, 0, size);
  p[0] = 0x60;
  p[4] = (size - 40) >>> 8;
  p[5] = (size - 40) & 0xff;
  p[6] = next;
  p[7] = hop;
  p.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9], 8);
  if (next === 17) p.set([0x30, 0x39, 0, 53, (size - 40) >>> 8, (size - 40) & 0xff], 40);
  if (next === 6) p.set([0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff], 40);
  if (next === 58) p.set([128, 0, 0, 0, 0, 1, 0, 1], 40);
}

/** Writes `count` packets of the mix to `path`; returns the file's size. */
function generate(path: string, count: number, seed: number): number {
  const w = new PcapWriter(path, 101);
  const rng = new Rng(seed);
  const p = new Uint8Array(1500);
  const t0 = 1_700_000_000;
  for (let i = 0; i < count; i++) {
    const r = rng.next();
    const mix = r % 100;
    const size = SIZES[(r >>> 8) % SIZES.length];
    const ttl = (r >>> 12) % 100 === 0 ? 1 : 64;
    const alt = (r >>> 20) % 8 === 0; // out of the L3 interface
    const h = rng.next();
    if (mix < 70) {
      v4(p, size, mix < 35 ? 17 : mix < 60 ? 6 : 1, ttl);
      if (alt) p.set([203, 0, 113, h & 0xff], 16);
      else p.set([198, 18, 64 + ((h >>> 8) & 63), h & 0xff], 16);
      const sum = internetChecksum(p, 0, 20);
      p[10] = sum >>> 8;
      p[11] = sum & 0xff;
    } else {
      const s = Math.max(size, 64);
      v6(p, s, mix < 84 ? 17 : mix < 94 ? 6 : 58, ttl);
      p.set([0x20, 0x01, 0x0d, 0xb8, alt ? 0xca : 0, alt ? 0xfe : 0x64], 24);
      p[38] = (h >>> 8) & 0xff;
      p[39] = h & 0xff;
      w.write(p, 0, s, t0 + Math.floor(i / 1e6), i % 1e6);
      continue;
    }
    w.write(p, 0, size, t0 + Math.floor(i / 1e6), i % 1e6);
  }
  w.close();
  return statSync(path).size;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      packets: { type: "string", default: "3000000" },
      table: { type: "string" },
      runs: { type: "string", default: "3" },
      json: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      seed: { type: "string", default: "1" },
      dir: { type: "string" },
    },
  });
  const count = Number(values.packets);
  const runs = Number(values.runs);
  const config = parseRouterConfig(CONFIG);
  if (!config.ok) throw new Error(config.errors.join("; "));
  let table: string | undefined;
  if (values.table) {
    const list = readPrefixList(values.table);
    if (!list.ok) throw new Error(list.error);
    table = list.text;
  }
  // tmpfs by default: the figure is the program's cost, not the disk's write bandwidth.
  const parent = values.dir ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());
  const dir = mkdtempSync(join(parent, "vroom-bench-replay-"));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  try {
    const input = join(dir, "in.pcap");
    const g0 = performance.now();
    const bytes = generate(input, count, Number(values.seed));
    log(
      `generated ${count} packets (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${((performance.now() - g0) / 1000).toFixed(1)} s`,
    );
    let best: ReplaySummary | undefined;
    let routes = 0;
    for (let run = 0; run < runs; run++) {
      const result = replay({
        config: config.config,
        input,
        outDir: join(dir, "out"),
        neighbors: NEIGHBORS,
        setup: table
          ? (router) => {
              const added = addPrefixList(router, table, { via: ["198.18.1.2", "2001:db8:1::2"] });
              if (!added.ok) throw new Error(added.errors.join("; "));
              routes = added.routes4 + added.routes6;
            }
          : undefined,
      });
      if (!result.ok) throw new Error(result.error);
      const s = result.summary;
      log(
        `run ${run + 1}: ${(s.packetsPerSec / 1e6).toFixed(2)} M packets/s end to end, ` +
          `${(s.forwardPacketsPerSec / 1e6).toFixed(2)} M packets/s forwarding alone`,
      );
      if (!best || s.packetsPerSec > best.packetsPerSec) best = s;
    }
    const s = best as ReplaySummary;
    const report = {
      packets: s.packets,
      captureBytes: bytes,
      tableRoutes: routes,
      runs,
      packetsPerSec: Math.round(s.packetsPerSec),
      forwardPacketsPerSec: Math.round(s.forwardPacketsPerSec),
      seconds: s.seconds,
      forwardSeconds: s.forwardSeconds,
      forwarded: s.forwarded,
      generated: s.generated,
      dropped: s.dropped,
      dropReasons: s.dropReasons,
      node: process.version,
    };
    if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      process.stdout.write(
        [
          `replay of ${s.packets} packets (${(bytes / 2 ** 20).toFixed(0)} MiB, IMIX, IPv4/IPv6 UDP/TCP/ICMP)` +
            (routes > 0 ? ` against ${routes} table routes` : ""),
          `  end to end (read, forward, write): ${(s.packetsPerSec / 1e6).toFixed(2)} M packets/s (${s.seconds.toFixed(2)} s)`,
          `  forwarding step alone:             ${(s.forwardPacketsPerSec / 1e6).toFixed(2)} M packets/s (${s.forwardSeconds.toFixed(2)} s)`,
          `  forwarded ${s.forwarded}, generated ${s.generated}, dropped ${s.dropped} (best of ${runs} runs)`,
          "",
        ].join("\n"),
      );
    }
  } finally {
    if (values.keep) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main();
