import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PacketArena } from "../../router/batch.ts";
import { parseRouterConfig } from "../../router/config.ts";
import { DropReason } from "../../router/counters.ts";
import { linkLocalOf } from "../../router/interface.ts";
import { VirtualRouter } from "../../router/router.ts";
import { TcpState } from "../../router/tcp/state.ts";
import { ArpOperation, emitArp, parseArp } from "../../router/wire/arp.ts";
import { internetChecksum } from "../../router/wire/checksum.ts";
import { parseIpv4 } from "../../router/wire/ipv4.ts";
import {
  batchOf,
  echoRequest4,
  frame,
  icmpv6Message,
  ip4,
  ip6,
  ipv4Packet,
  ipv6Packet,
  testRouter,
} from "./packets.ts";

const MAC_A = 0x02_00_00_00_0a_01;
const HOST_MAC = 0x02_00_00_00_0b_02;

/** Two L3 interfaces (TUN-like) and one L2 interface (TAP-like). */
function router3() {
  return testRouter({
    name: "r1",
    interfaces: [
      { name: "t0", layer: "l3", addresses: ["198.18.0.1/24", "2001:db8:0::1/64"] },
      { name: "t1", layer: "l3", addresses: ["198.18.1.1/24", "2001:db8:1::1/64"], mtu: 576 },
      {
        name: "e0",
        layer: "l2",
        mac: "02:00:00:00:0a:01",
        addresses: ["198.18.2.1/24", "2001:db8:2::1/64"],
      },
    ],
    staticRoutes: [
      { prefix: "198.19.0.0/16", via: "198.18.1.2" },
      { prefix: "198.19.9.0/24", action: "reject" },
      { prefix: "198.19.8.0/24", action: "blackhole" },
      { prefix: "2001:db8:99::/48", via: "2001:db8:1::2" },
    ],
  });
}

function ipv4Ok(bytes: Uint8Array) {
  const r = parseIpv4(bytes, 0, bytes.length);
  if (!r.ok) throw new Error(`not an IPv4 packet: error ${r.error}`);
  expect(internetChecksum(bytes, 0, (bytes[0] & 15) * 4)).toBe(0);
  return r.repr;
}

describe("IPv4 forwarding", () => {
  it("forwards between L3 interfaces, decrementing TTL with a valid checksum", () => {
    const { router, sent, arena } = router3();
    const p = ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.7", ttl: 9 });
    router.receive(0, batchOf(arena, [p]), 0);
    expect(sent).toHaveLength(1);
    expect(sent[0].ifIndex).toBe(1);
    const h = ipv4Ok(sent[0].bytes);
    expect(h.ttl).toBe(8);
    expect(sent[0].bytes.subarray(20)).toEqual(p.subarray(20));
    expect(router.ifaces[0].counters.rxPackets).toBe(1);
    expect(router.ifaces[1].counters.txPackets).toBe(1);
  });

  it("uses static routes through a gateway", () => {
    const { router, sent, arena } = router3();
    router.receive(0, batchOf(arena, [ipv4Packet({ src: "198.18.0.9", dst: "198.19.3.4" })]), 0);
    expect(sent.map((s) => s.ifIndex)).toEqual([1]);
  });

  it("answers TTL expiry with ICMP time exceeded from the incoming interface's address", () => {
    const { router, sent, arena } = router3();
    const p = ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.7", ttl: 1 });
    router.receive(0, batchOf(arena, [p]), 0);
    expect(sent).toHaveLength(1);
    expect(sent[0].ifIndex).toBe(0);
    const h = ipv4Ok(sent[0].bytes);
    expect(h.src).toBe(ip4("198.18.0.1"));
    expect(h.dst).toBe(ip4("198.18.0.9"));
    const icmp = sent[0].bytes.subarray(20);
    expect(icmp[0]).toBe(11);
    expect(internetChecksum(icmp, 0, icmp.length)).toBe(0);
    // The quote: the offending header and 8 bytes of its payload.
    expect(icmp.subarray(8)).toEqual(p.subarray(0, 28));
    expect(router.ifaces[0].counters.drops[DropReason.TtlExpired]).toBe(1);
  });

  it("answers a destination without a route with net unreachable", () => {
    const { router, sent, arena } = router3();
    router.receive(0, batchOf(arena, [ipv4Packet({ src: "198.18.0.9", dst: "203.0.113.1" })]), 0);
    expect(sent).toHaveLength(1);
    expect(sent[0].bytes[20]).toBe(3);
    expect(sent[0].bytes[21]).toBe(0);
    expect(router.ifaces[0].counters.drops[DropReason.NoRoute]).toBe(1);
  });

  it("rejects with administratively prohibited and blackholes silently", () => {
    const { router, sent, arena } = router3();
    router.receive(
      0,
      batchOf(arena, [
        ipv4Packet({ src: "198.18.0.9", dst: "198.19.9.1" }),
        ipv4Packet({ src: "198.18.0.9", dst: "198.19.8.1" }),
      ]),
      0,
    );
    expect(sent).toHaveLength(1);
    expect([sent[0].bytes[20], sent[0].bytes[21]]).toEqual([3, 13]);
    expect(router.ifaces[0].counters.drops[DropReason.Prohibited]).toBe(2);
  });

  it("answers ping to its own address", () => {
    const { router, sent, arena } = router3();
    const p = ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.1", payload: echoRequest4(7, 3, 40) });
    router.receive(0, batchOf(arena, [p]), 0);
    expect(sent).toHaveLength(1);
    expect(sent[0].ifIndex).toBe(0);
    const h = ipv4Ok(sent[0].bytes);
    expect([h.src, h.dst]).toEqual([ip4("198.18.1.1"), ip4("198.18.0.9")]);
    const icmp = sent[0].bytes.subarray(20);
    expect(icmp[0]).toBe(0);
    expect(internetChecksum(icmp, 0, icmp.length)).toBe(0);
    expect(icmp.subarray(4)).toEqual(p.subarray(24));
  });

  it("fragments a packet larger than the output MTU when DF is clear", () => {
    const { router, sent, arena } = router3();
    const payload = new Uint8Array(1400).map((_, i) => (i * 7) & 0xff);
    const p = ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.7", protocol: 17, payload });
    router.receive(0, batchOf(arena, [p]), 0);
    expect(sent.length).toBe(3);
    const data: Uint8Array[] = [];
    let expectOffset = 0;
    sent.forEach((s, k) => {
      expect(s.bytes.length).toBeLessThanOrEqual(576);
      const h = ipv4Ok(s.bytes);
      expect(h.fragmentOffset * 8).toBe(expectOffset);
      expect(h.moreFragments).toBe(k < sent.length - 1);
      expect(h.ttl).toBe(63);
      data.push(s.bytes.subarray(20));
      expectOffset += s.bytes.length - 20;
    });
    const joined = new Uint8Array(expectOffset);
    let at = 0;
    for (const d of data) {
      joined.set(d, at);
      at += d.length;
    }
    expect(joined).toEqual(payload);
  });

  it("answers a too-big packet with DF set with fragmentation needed and the MTU", () => {
    const { router, sent, arena } = router3();
    const p = ipv4Packet({
      src: "198.18.0.9",
      dst: "198.18.1.7",
      df: true,
      payload: new Uint8Array(1000),
    });
    router.receive(0, batchOf(arena, [p]), 0);
    expect(sent).toHaveLength(1);
    const icmp = sent[0].bytes.subarray(20);
    expect([icmp[0], icmp[1]]).toEqual([3, 4]);
    expect((icmp[6] << 8) | icmp[7]).toBe(576);
  });

  it("rate-limits ICMP errors", () => {
    const { router, sent, arena } = router3();
    const packets = Array.from({ length: 300 }, () =>
      ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.7", ttl: 1 }),
    );
    router.receive(0, batchOf(arena, packets), 5);
    expect(sent.length).toBe(50);
    expect(router.ifaces[0].counters.icmpSuppressed).toBe(250);
  });

  it("never answers an ICMP error with an error", () => {
    const { router, sent, arena } = router3();
    const err = new Uint8Array(36);
    err[0] = 11;
    const p = ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.7", ttl: 1, payload: err });
    router.receive(0, batchOf(arena, [p]), 0);
    expect(sent).toHaveLength(0);
  });
});

describe("L2 interfaces and ARP", () => {
  it("resolves the next hop with ARP, queues the packet and sends it when the reply comes", () => {
    const { router, sent, arena } = router3();
    router.receive(0, batchOf(arena, [ipv4Packet({ src: "198.18.0.9", dst: "198.18.2.5" })]), 0);
    expect(sent).toHaveLength(1);
    const req = sent[0].bytes;
    expect(req.subarray(0, 6)).toEqual(new Uint8Array([255, 255, 255, 255, 255, 255]));
    const arp = parseArp(req, 14, req.length - 14);
    if (!arp.ok) throw new Error("not ARP");
    expect(arp.repr.operation).toBe(ArpOperation.Request);
    expect(arp.repr.targetIp).toBe(ip4("198.18.2.5"));
    expect(arp.repr.senderIp).toBe(ip4("198.18.2.1"));

    const reply = new Uint8Array(28);
    emitArp(
      {
        operation: ArpOperation.Reply,
        senderMac: HOST_MAC,
        senderIp: ip4("198.18.2.5"),
        targetMac: MAC_A,
        targetIp: ip4("198.18.2.1"),
      },
      reply,
      0,
    );
    router.receive(2, batchOf(arena, [frame(MAC_A, HOST_MAC, 0x0806, reply)]), 1);
    expect(sent).toHaveLength(2);
    const f = sent[1].bytes;
    expect(sent[1].ifIndex).toBe(2);
    expect(f.subarray(0, 6)).toEqual(new Uint8Array([2, 0, 0, 0, 0x0b, 2]));
    expect(f.subarray(6, 12)).toEqual(new Uint8Array([2, 0, 0, 0, 0x0a, 1]));
    expect((f[12] << 8) | f[13]).toBe(0x0800);
    expect(ipv4Ok(f.subarray(14)).dst).toBe(ip4("198.18.2.5"));
  });

  it("answers ARP requests for its address and learns the asker", () => {
    const { router, sent, arena } = router3();
    const req = new Uint8Array(28);
    emitArp(
      {
        operation: ArpOperation.Request,
        senderMac: HOST_MAC,
        senderIp: ip4("198.18.2.5"),
        targetMac: 0,
        targetIp: ip4("198.18.2.1"),
      },
      req,
      0,
    );
    router.receive(2, batchOf(arena, [frame(0xffffffffffff, HOST_MAC, 0x0806, req)]), 0);
    expect(sent).toHaveLength(1);
    const r = parseArp(sent[0].bytes, 14, 28);
    if (!r.ok) throw new Error("not ARP");
    expect(r.repr.operation).toBe(ArpOperation.Reply);
    expect(r.repr.senderMac).toBe(MAC_A);
    expect(r.repr.targetMac).toBe(HOST_MAC);
    // Learned: forwarding to it needs no request.
    router.receive(0, batchOf(arena, [ipv4Packet({ src: "198.18.0.9", dst: "198.18.2.5" })]), 1);
    expect(sent).toHaveLength(2);
    expect((sent[1].bytes[12] << 8) | sent[1].bytes[13]).toBe(0x0800);
  });

  it("drops frames for other stations and counts them", () => {
    const { router, sent, arena } = router3();
    const p = ipv4Packet({ src: "198.18.2.5", dst: "198.18.0.9" });
    router.receive(2, batchOf(arena, [frame(0x020000000999, HOST_MAC, 0x0800, p)]), 0);
    expect(sent).toHaveLength(0);
    expect(router.ifaces[2].counters.drops[DropReason.NotForUs]).toBe(1);
  });

  it("answers host unreachable when ARP gets no answer, after its probes", () => {
    const { router, sent, arena } = router3();
    router.receive(0, batchOf(arena, [ipv4Packet({ src: "198.18.0.9", dst: "198.18.2.77" })]), 0);
    let now = 0;
    for (let k = 0; k < 6; k++) {
      now += 1000;
      router.poll(now);
    }
    const requests = sent.filter((s) => s.ifIndex === 2);
    expect(requests.length).toBe(3);
    const errors = sent.filter((s) => s.ifIndex === 0);
    expect(errors).toHaveLength(1);
    expect([errors[0].bytes[20], errors[0].bytes[21]]).toEqual([3, 1]);
  });

  it("announces its addresses with gratuitous ARP and unsolicited advertisements", () => {
    const { router, sent } = router3();
    router.announce(2, 0);
    expect(sent.length).toBe(3);
    const garp = parseArp(sent[0].bytes, 14, 28);
    if (!garp.ok) throw new Error("not ARP");
    expect(garp.repr.senderIp).toBe(garp.repr.targetIp);
    const na = sent[1].bytes;
    expect((na[12] << 8) | na[13]).toBe(0x86dd);
    expect(na[14 + 40]).toBe(136);
  });
});

describe("IPv6", () => {
  it("forwards, decrementing the hop limit", () => {
    const { router, sent, arena } = router3();
    const p = ipv6Packet({ src: "2001:db8::9", dst: "2001:db8:99::5", hopLimit: 5 });
    router.receive(0, batchOf(arena, [p]), 0);
    expect(sent).toHaveLength(1);
    expect(sent[0].ifIndex).toBe(1);
    expect(sent[0].bytes[7]).toBe(4);
  });

  it("answers hop-limit expiry, no route and too big", () => {
    const { router, sent, arena } = router3();
    router.receive(
      0,
      batchOf(arena, [
        ipv6Packet({ src: "2001:db8::9", dst: "2001:db8:1::5", hopLimit: 1 }),
        ipv6Packet({ src: "2001:db8::9", dst: "2001:db8:77::5" }),
        ipv6Packet({
          src: "2001:db8::9",
          dst: "2001:db8:1::5",
          payload: icmpv6Message(128, new Uint8Array(900)),
        }),
      ]),
      0,
    );
    expect(sent.map((s) => s.bytes[40])).toEqual([3, 1, 2]);
    const tooBig = sent[2].bytes;
    expect(((tooBig[44] << 24) | (tooBig[45] << 16) | (tooBig[46] << 8) | tooBig[47]) >>> 0).toBe(
      576,
    );
    for (const s of sent) expect(s.bytes.length).toBeLessThanOrEqual(1280);
  });

  it("answers ping6 to its own address", () => {
    const { router, sent, arena } = router3();
    router.receive(
      0,
      batchOf(arena, [ipv6Packet({ src: "2001:db8::9", dst: "2001:db8:1::1" })]),
      0,
    );
    expect(sent).toHaveLength(1);
    expect(sent[0].bytes[40]).toBe(129);
  });

  it("resolves an IPv6 neighbour with a solicitation and answers solicitations for its address", () => {
    const { router, sent, arena } = router3();
    router.receive(
      0,
      batchOf(arena, [ipv6Packet({ src: "2001:db8::9", dst: "2001:db8:2::5" })]),
      0,
    );
    expect(sent).toHaveLength(1);
    const ns = sent[0].bytes;
    expect(ns.subarray(0, 2)).toEqual(new Uint8Array([0x33, 0x33]));
    expect(ns[14 + 40]).toBe(135);
    expect(ns[14 + 7]).toBe(255);
    // The neighbour advertises itself: the queued packet leaves.
    const hostLl = linkLocalOf(HOST_MAC);
    const target = ip6("2001:db8:2::5");
    const body = new Uint8Array(4 + 16 + 8);
    body[0] = 0x60; // solicited + override
    for (let w = 0; w < 4; w++)
      for (let b = 0; b < 4; b++) body[4 + w * 4 + b] = (target[w] >>> (24 - 8 * b)) & 0xff;
    body[20] = 2;
    body[21] = 1;
    for (let b = 0; b < 6; b++) body[22 + b] = Math.floor(HOST_MAC / 2 ** (40 - 8 * b)) & 0xff;
    const llText = Array.from({ length: 8 }, (_, i) =>
      ((hostLl[i >> 1] >>> (i & 1 ? 0 : 16)) & 0xffff).toString(16),
    ).join(":");
    const na = ipv6Packet({
      src: llText,
      dst: "2001:db8:2::1",
      hopLimit: 255,
      payload: icmpv6Message(136, body),
    });
    router.receive(2, batchOf(arena, [frame(MAC_A, HOST_MAC, 0x86dd, na)]), 1);
    expect(sent).toHaveLength(2);
    expect(sent[1].bytes.subarray(0, 6)).toEqual(new Uint8Array([2, 0, 0, 0, 0x0b, 2]));
    expect(sent[1].bytes[14 + 7]).toBe(63);
  });
});

describe("bad input", () => {
  it("drops truncated, bad-checksum and bad-version packets, counting each", () => {
    const { router, sent, arena } = router3();
    const good = ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.7" });
    const badSum = good.slice();
    badSum[10] ^= 0xff;
    const badVersion = good.slice();
    badVersion[0] = 0x55;
    router.receive(0, batchOf(arena, [good.subarray(0, 15), badSum, badVersion, good]), 0);
    const c = router.ifaces[0].counters;
    expect(c.drops[DropReason.Malformed]).toBe(2);
    expect(c.drops[DropReason.BadChecksum]).toBe(1);
    expect(sent).toHaveLength(1);
  });

  it("never throws on random bytes, on either kind of interface", () => {
    const { router, arena } = router3();
    const batch = arena.batch(32);
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 200 }), { minLength: 1, maxLength: 32 }),
        fc.integer({ min: 0, max: 2 }),
        (packets, ifIndex) => {
          batch.clear();
          for (const p of packets) {
            const i = batch.reserve(p.length);
            batch.arena.set(p, batch.start(i));
          }
          router.receive(ifIndex, batch, 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reports configuration errors with the field at fault", () => {
    const r = parseRouterConfig({
      name: "r1",
      interfaces: [
        { name: "a", layer: "l3", addresses: ["198.18.0.1"] },
        { name: "a", layer: "l2", mac: "01:00:00:00:00:01" },
      ],
      staticRoutes: [{ prefix: "198.19.0.0/16" }, { prefix: "198.19.0.0/16", via: "2001:db8::1" }],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      "interfaces.0.addresses.0: '198.18.0.1' needs a prefix length (address/len)",
      "interfaces.1.name: duplicate interface 'a'",
      "interfaces.1.mac: '01:00:00:00:00:01' is not a unicast MAC address",
      "staticRoutes.0: a forwarding route needs 'via' or 'interface'",
      "staticRoutes.1.via: gateway 2001:db8::1 is not of the prefix's family",
    ]);
  });
});

describe("isolation", () => {
  it("keeps two routers with the same prefixes apart", () => {
    const a = router3();
    const b = testRouter({
      name: "r2",
      interfaces: [
        { name: "t0", layer: "l3", addresses: ["198.18.0.1/24"] },
        { name: "t1", layer: "l3", addresses: ["198.18.1.1/24"] },
      ],
      staticRoutes: [{ prefix: "198.19.0.0/16", action: "blackhole" }],
    });
    a.router.receive(
      0,
      batchOf(a.arena, [ipv4Packet({ src: "198.18.0.9", dst: "198.19.3.4" })]),
      0,
    );
    b.router.receive(
      0,
      batchOf(b.arena, [ipv4Packet({ src: "198.18.0.9", dst: "198.19.3.4" })]),
      0,
    );
    expect(a.sent).toHaveLength(1);
    expect(b.sent).toHaveLength(0);
  });
});

describe("arena", () => {
  it("reuses the regions of released batches, and refuses a second release", async () => {
    const { PacketArena } = await import("../../router/batch.ts");
    const arena = new PacketArena(64 * 2048 * 2);
    const a = arena.batch(64);
    const b = arena.batch(64);
    expect(() => arena.batch(64)).toThrow(RangeError);
    arena.release(a);
    expect(() => arena.release(a)).toThrow(RangeError);
    const c = arena.batch(64);
    expect(c.base).toBe(a.base);
    expect(arena.allocated()).toBe(2 * 64 * 2048);
    arena.release(b);
    arena.release(c);
    expect(arena.allocated()).toBe(0);
  });

  it("a closed router gives its batches back", () => {
    const { router, arena } = router3();
    const before = arena.allocated();
    router.close();
    // Three interfaces' output batches and the five scratch slots.
    expect(arena.allocated()).toBe(before - (3 * 64 + 5) * 2048);
  });
});

describe("regressions from the kernel tests", () => {
  it("does not forward a directed broadcast (RFC 2644)", () => {
    const { router, sent, arena } = router3();
    router.receive(0, batchOf(arena, [ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.255" })]), 0);
    expect(sent).toHaveLength(0);
    expect(router.ifaces[0].counters.drops[DropReason.Scope]).toBe(1);
  });

  it("answers ARP from a sender outside its subnets without learning it (regression: any sender was learned)", () => {
    const { router, sent, arena } = router3();
    const req = new Uint8Array(28);
    emitArp(
      {
        operation: ArpOperation.Request,
        senderMac: HOST_MAC,
        senderIp: ip4("198.19.99.1"),
        targetMac: 0,
        targetIp: ip4("198.18.2.1"),
      },
      req,
      0,
    );
    router.receive(2, batchOf(arena, [frame(0xffffffffffff, HOST_MAC, 0x0806, req)]), 0);
    expect(sent).toHaveLength(1);
    expect(router.ifaces[2].arp.size).toBe(0);
  });

  it("forgets stale neighbours and bounds its caches (regression: entries were never evicted)", async () => {
    const { NeighborCache, NeighborState, GC_STALE_MS, MAX_ENTRIES, REACHABLE_MS } = await import(
      "../../router/neighbors.ts"
    );
    const cache = new NeighborCache(1);
    const quiet = { solicit: () => {}, failed: () => {} };
    cache.confirm([1], 0, 0x020000000001, 0, true);
    cache.poll(REACHABLE_MS, quiet);
    expect(cache.get([1])?.state).toBe(NeighborState.Stale);
    cache.poll(REACHABLE_MS + GC_STALE_MS, quiet);
    expect(cache.size).toBe(0);
    for (let a = 0; a < MAX_ENTRIES; a++) expect(cache.getOrCreate([a + 10], 0, 0)).toBeDefined();
    expect(cache.getOrCreate([5], 0, 0)).toBeUndefined();
    cache.confirm([10], 0, 0x020000000002, 0, false);
    cache.poll(REACHABLE_MS, quiet);
    expect(cache.getOrCreate([5], 0, REACHABLE_MS)).toBeDefined();
    expect(cache.get([10])).toBeUndefined();
  });
});

describe("IPv4 options and IPv6 extension headers", () => {
  // Record route (copied flag clear), then a 4-byte security-like option with the copied flag set.
  const options = Uint8Array.of(7, 7, 4, 0, 0, 0, 0, 0x82, 4, 0xaa, 0xbb, 1);

  it("forwards a packet with options, header intact, TTL and checksum updated", () => {
    const { router, sent, arena } = router3();
    const p = ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.7", options });
    router.receive(0, batchOf(arena, [p]), 0);
    expect(sent).toHaveLength(1);
    const h = ipv4Ok(sent[0].bytes);
    expect(h.ttl).toBe(63);
    expect(sent[0].bytes.subarray(20, 32)).toEqual(options);
    expect(sent[0].bytes.subarray(32)).toEqual(p.subarray(32));
  });

  it("fragments a packet with options: all in the first fragment, only copied ones after", () => {
    const { router, sent, arena } = router3();
    const payload = new Uint8Array(1000).map((_, i) => i & 0xff);
    router.receive(
      0,
      batchOf(arena, [
        ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.7", protocol: 17, payload, options }),
      ]),
      0,
    );
    expect(sent.length).toBe(2);
    expect(sent[0].bytes[0] & 15).toBe(8);
    expect(sent[0].bytes.subarray(20, 32)).toEqual(options);
    expect(sent[1].bytes[0] & 15).toBe(6);
    expect(sent[1].bytes.subarray(20, 24)).toEqual(Uint8Array.of(0x82, 4, 0xaa, 0xbb));
    const data = [...sent[0].bytes.subarray(32), ...sent[1].bytes.subarray(24)];
    expect(Uint8Array.from(data)).toEqual(payload);
    for (const s of sent) ipv4Ok(s.bytes);
  });

  it("forwards IPv6 with hop-by-hop and destination options unchanged but for the hop limit", () => {
    const { router, sent, arena } = router3();
    // Hop-by-Hop (next: Destination Options), 8 bytes of PadN; Destination Options (next: UDP), 8 bytes.
    const ext = Uint8Array.of(60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0);
    const udp = Uint8Array.of(0, 9, 0, 9, 0, 12, 0, 0, 1, 2, 3, 4);
    const p = ipv6Packet({
      src: "2001:db8::9",
      dst: "2001:db8:1::7",
      nextHeader: 0,
      payload: Uint8Array.from([...ext, ...udp]),
    });
    router.receive(0, batchOf(arena, [p]), 0);
    expect(sent).toHaveLength(1);
    expect(sent[0].bytes[7]).toBe(63);
    expect(sent[0].bytes.subarray(8)).toEqual(p.subarray(8));
  });

  it("counts per router as well as per interface", () => {
    const { router, arena } = router3();
    router.receive(
      0,
      batchOf(arena, [
        ipv4Packet({ src: "198.18.0.9", dst: "198.18.1.7" }),
        ipv4Packet({ src: "198.18.0.9", dst: "203.0.113.9" }),
      ]),
      0,
    );
    const c = router.counters();
    expect(c.router).toMatchObject({ rxPackets: 2, drops: { "no-route": 1 } });
    expect(c.interfaces.t1).toMatchObject({ txPackets: 1 });
  });
});

describe("control plane lifecycle", () => {
  const config = {
    name: "cp",
    interfaces: [{ name: "t0", layer: "l3", addresses: ["198.18.0.1/24"] }],
    bgp: { asn: 65001, routerId: "198.18.0.1", neighbors: [{ address: "198.18.0.2", asn: 65002 }] },
  };

  it("a held control plane starts only when told, and a SYN sent from outside a poll wakes the router", () => {
    const arena = new PacketArena(8 << 20);
    const made = VirtualRouter.create(config, { arena, holdControlPlane: true });
    if (!made.ok) throw new Error(made.errors.join("; "));
    const router = made.router;
    const sent: number[] = [];
    router.setTransmit((_i, batch) => sent.push(batch.count));
    let wakes = 0;
    router.setWake(() => wakes++);
    router.poll(0);
    expect(router.controlPlane).toBe("held");
    expect(router.bgp!.started).toBe(false);
    router.startControlPlane();
    expect(wakes).toBe(1);
    router.poll(1);
    expect(router.bgp!.started).toBe(true);
    expect(sent.reduce((a, b) => a + b, 0)).toBe(1); // the SYN to the neighbour
    // Disabling and enabling from outside a poll: the new SYN waits in the batch, the router asks to be polled.
    router.bgp!.setNeighborEnabled("198.18.0.2", false, 2);
    router.bgp!.setNeighborEnabled("198.18.0.2", true, 3);
    expect(wakes).toBeGreaterThan(1);
  });

  it("a router shut down never starts its speaker again (regression: the next poll restarted BGP)", () => {
    const { router } = testRouter(config);
    router.poll(0);
    expect(router.bgp!.started).toBe(true);
    router.shutdown(1, "maintenance");
    expect(router.controlPlane).toBe("stopped");
    for (let t = 2; t < 20_000; t += 1000) router.poll(t);
    expect(router.bgp!.neighbors(20_000)[0].state).toBe("Idle");
    expect([...router.tcp.connections()].every((c) => c.state !== TcpState.SynSent)).toBe(true);
  });
});
