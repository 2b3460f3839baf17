/**
 * Loads a full Internet table into a BGP speaker and reports how fast and
 * at what memory cost: `npx tsx test/router/bgp/full-table.ts [--quick]`.
 *
 * The prefixes are the real table of ../shared/data/bgp-prefixes.txt.gz
 * (901,899 IPv4 + 160,147 IPv6; a synthetic table of the same size when
 * the file is missing). A scripted eBGP peer sends them as UPDATEs built
 * with the speaker's own encoder, runs of 1-8 consecutive prefixes sharing
 * an attribute set (AS paths of 2-7 hops, some MEDs and communities), as a
 * peer packing by attributes would. The speaker's router hook does nothing
 * but count. Reported: time from session up to the last route in the
 * Loc-RIB and handed to the router, routes per second, distinct attribute
 * sets, heap and RSS after loading (after a GC when run with
 * --expose-gc), and the longest single data callback (what delays timers).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { parsePrefix } from "../../../fib/prefix.ts";
import type { Family } from "../../../fib/types.ts";
import { parseBgpConfig } from "../../../router/bgp/config.ts";
import { BgpSpeaker } from "../../../router/bgp/speaker.ts";
import {
  encodeAttributes,
  type PathAttributes,
  SegmentType,
} from "../../../router/bgp/wire/attributes.ts";
import { encodeOpen } from "../../../router/bgp/wire/open.ts";
import { UpdatePacker } from "../../../router/bgp/wire/update.ts";
import { addr, MemoryNet, RawPeer } from "./harness.ts";

const quick = process.argv.includes("--quick");
const here = dirname(fileURLToPath(import.meta.url));
const file = join(here, "../../../../shared/data/bgp-prefixes.txt.gz");

function loadPrefixes(): {
  v4: Uint32Array;
  v4len: Uint8Array;
  v6: Uint32Array;
  v6len: Uint8Array;
  source: string;
} {
  const v4: number[] = [];
  const v4len: number[] = [];
  const v6: number[] = [];
  const v6len: number[] = [];
  if (existsSync(file)) {
    for (const raw of gunzipSync(readFileSync(file)).toString("latin1").split("\n")) {
      const line = raw.trim();
      if (!line) continue;
      const p = parsePrefix(line, { maskHostBits: true });
      if (!p.ok) continue;
      if (p.prefix.family === 4) {
        v4.push(p.prefix.words[0]);
        v4len.push(p.prefix.length);
      } else {
        v6.push(...p.prefix.words);
        v6len.push(p.prefix.length);
      }
    }
    return {
      v4: Uint32Array.from(v4),
      v4len: Uint8Array.from(v4len),
      v6: Uint32Array.from(v6),
      v6len: Uint8Array.from(v6len),
      source: file,
    };
  }
  let seed = 7;
  const rnd = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  const seen = new Set<string>();
  while (v4len.length < 901_899) {
    const len = rnd() < 0.6 ? 24 : 16 + Math.floor(rnd() * 9);
    const a = (Math.floor(rnd() * 2 ** 32) & (0xffffffff << (32 - len))) >>> 0;
    const k = `${a}/${len}`;
    if (seen.has(k)) continue;
    seen.add(k);
    v4.push(a);
    v4len.push(len);
  }
  while (v6len.length < 160_147) {
    const len = rnd() < 0.5 ? 48 : 29 + Math.floor(rnd() * 20);
    const w = [0x20010000 | Math.floor(rnd() * 0xffff), Math.floor(rnd() * 2 ** 32) >>> 0, 0, 0];
    if (len < 64) w[1] = (w[1] & (0xffffffff << (64 - len))) >>> 0;
    const k = `${w.join(".")}/${len}`;
    if (seen.has(k)) continue;
    seen.add(k);
    v6.push(...w);
    v6len.push(len);
  }
  return {
    v4: Uint32Array.from(v4),
    v4len: Uint8Array.from(v4len),
    v6: Uint32Array.from(v6),
    v6len: Uint8Array.from(v6len),
    source: "synthetic",
  };
}

function buildUpdates(
  t: ReturnType<typeof loadPrefixes>,
  peerAs: number,
  nh4: number,
  nh6: Uint32Array,
) {
  let seed = 42;
  const rnd = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  const asPool = Array.from({ length: 5000 }, (_, i) => (i < 4000 ? 1000 + i * 13 : 200000 + i));
  const packer = new UpdatePacker();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  let sets = 0;
  const emit = (m: Uint8Array) => {
    chunks.push(m);
    bytes += m.length;
  };
  const attrsFor = (family: Family): PathAttributes => {
    const hops = 2 + Math.floor(rnd() * 6);
    const path = [SegmentType.AsSequence, hops, peerAs];
    for (let i = 1; i < hops; i++) path.push(asPool[Math.floor(rnd() * asPool.length)]);
    const a: { -readonly [K in keyof PathAttributes]: PathAttributes[K] } = {
      origin: rnd() < 0.9 ? 0 : 2,
      asPath: Uint32Array.from(path),
      atomicAggregate: false,
      nextHop: family === 4 ? Uint32Array.of(nh4) : nh6,
    };
    if (rnd() < 0.3) a.med = Math.floor(rnd() * 1000);
    if (rnd() < 0.5)
      a.communities = Uint32Array.from(
        { length: 1 + Math.floor(rnd() * 4) },
        () => ((peerAs << 16) | Math.floor(rnd() * 65536)) >>> 0,
      );
    sets++;
    return a;
  };
  for (const family of [4, 6] as Family[]) {
    const words = family === 4 ? t.v4 : t.v6;
    const lens = family === 4 ? t.v4len : t.v6len;
    const stride = family === 4 ? 1 : 4;
    let i = 0;
    while (i < lens.length) {
      const run = Math.min(lens.length - i, 1 + Math.floor(rnd() * 8));
      const a = attrsFor(family);
      const enc = encodeAttributes(a, { as4: true, family });
      if (family === 4) packer.beginAnnounce(4, enc);
      else packer.beginAnnounce(6, enc, a.nextHop);
      for (let k = 0; k < run; k++, i++) {
        const ok =
          family === 4 ? packer.add4(words[i], lens[i]) : packer.add6(words, i * stride, lens[i]);
        if (!ok) throw new Error("run does not fit");
      }
      emit(packer.finish());
    }
  }
  return { chunks, bytes, sets };
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

async function main() {
  const t = loadPrefixes();
  let v4 = t.v4len.length;
  let v6 = t.v6len.length;
  if (quick) {
    t.v4len = t.v4len.subarray(0, 100_000);
    t.v4 = t.v4.subarray(0, 100_000);
    t.v6len = t.v6len.subarray(0, 20_000);
    t.v6 = t.v6.subarray(0, 80_000);
    v4 = 100_000;
    v6 = 20_000;
  }
  const peerAddr = addr("198.18.0.2");
  const updates = buildUpdates(t, 65002, peerAddr[0], addr("2001:db8::2"));
  const net = new MemoryNet();
  net.sendBuffer = 1 << 20;
  const open = () =>
    encodeOpen({
      version: 4,
      myAs: 65002,
      holdTime: 90,
      bgpId: peerAddr[0],
      capabilities: [
        { kind: "multiprotocol", afi: 1, safi: 1 },
        { kind: "multiprotocol", afi: 2, safi: 1 },
        { kind: "four-octet-as", asn: 65002 },
        { kind: "route-refresh" },
      ],
    });
  const peer = new RawPeer(net, "peer", peerAddr, open);
  const cfg = parseBgpConfig({
    asn: 65001,
    routerId: "198.18.0.1",
    neighbors: [{ address: "198.18.0.2", asn: 65002, import: "accept" }],
  });
  if (!cfg.ok) throw new Error(cfg.errors.join("\n"));
  let installs = 0;
  const local = addr("198.18.0.1");
  const speaker = new BgpSpeaker(
    cfg.config,
    {
      install() {
        installs++;
      },
      remove() {},
      resolve: () => ({ reachable: true, metric: 0 }),
      sourceAddressFor: () => local,
      localRoutes: () => [],
    },
    net.transport("vr", [local]),
  );
  const baseRss = process.memoryUsage().rss;
  speaker.start(0);
  for (let i = 0; i < 10; i++) {
    net.deliver();
    speaker.poll(0);
  }
  if (speaker.neighbors()[0].state !== "Established") throw new Error("session did not come up");
  // Stream the UPDATEs in 64 KiB chunks, as TCP would deliver them.
  const stream = new Uint8Array(updates.bytes);
  let at = 0;
  for (const c of updates.chunks) {
    stream.set(c, at);
    at += c.length;
  }
  const updateCount = updates.chunks.length;
  updates.chunks.length = 0;
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage();
  const fsm = speaker.neighbor("198.18.0.2")!.session!;
  const conn = fsm.conn!;
  const user = speaker.transportUser;
  let longest = 0;
  const t0 = performance.now();
  for (let off = 0; off < stream.length; off += 65536) {
    const c0 = performance.now();
    user.data(conn, stream.subarray(off, Math.min(stream.length, off + 65536)), 1);
    longest = Math.max(longest, performance.now() - c0);
  }
  while (speaker.poll(1) <= 1) {}
  const seconds = (performance.now() - t0) / 1000;
  const routes = speaker.stats();
  if (routes.locRib4 !== v4 || routes.locRib6 !== v6 || installs !== v4 + v6) {
    throw new Error(
      `incomplete: ${routes.locRib4}/${v4} IPv4, ${routes.locRib6}/${v6} IPv6, ${installs} installs`,
    );
  }
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  // The session goes down: the table leaves in slices of background work.
  const f0 = performance.now();
  let longestPoll = 0;
  speaker.stop(2, "benchmark done");
  for (let polls = 0; ; polls++) {
    const p0 = performance.now();
    const next = speaker.poll(2);
    longestPoll = Math.max(longestPoll, performance.now() - p0);
    if (next > 2 || polls > 1_000_000) break;
  }
  const flushSeconds = (performance.now() - f0) / 1000;
  if (speaker.stats().locRib4 + speaker.stats().locRib6 !== 0) throw new Error("table not flushed");
  const report = {
    table: t.source,
    ipv4: v4,
    ipv6: v6,
    updates: updateCount,
    updateBytes: updates.bytes,
    attributeSetsSent: updates.sets,
    attributeSetsHeld: routes.attributeSets,
    seconds: Number(seconds.toFixed(2)),
    routesPerSecond: Math.round((v4 + v6) / seconds),
    longestCallbackMs: Number(longest.toFixed(1)),
    flushSeconds: Number(flushSeconds.toFixed(2)),
    longestPollWhileFlushingMs: Number(longestPoll.toFixed(1)),
    speakerHeap: mib(mem.heapUsed - before.heapUsed),
    speakerExternal: mib(mem.external - before.external),
    heapUsed: mib(mem.heapUsed),
    rss: mib(mem.rss),
    rssBeforeLoad: mib(before.rss),
    rssAtStart: mib(baseRss),
    note: "RSS before load holds the test's UPDATE stream and prefix list",
  };
  console.log(JSON.stringify(report, null, 2));
  void peer;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
