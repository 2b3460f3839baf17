/**
 * Malformed input from the real kernel: a router with one L3 interface on a
 * TUN device (namespace A) and one L2 interface on a TAP device (namespace
 * T). A python3 process in each namespace holds an AF_PACKET socket on the
 * device and sends hand-made packets, which the kernel passes to the
 * hypervisor unchanged: truncated headers, bad lengths, a bad IPv4 checksum,
 * bad versions, IPv6 payload lengths past the end, bogus extension-header
 * chains, header-only Ethernet frames, frames for another MAC, tagged and
 * unknown ethertypes. Each one must be dropped and counted under its
 * DropReason (router/counters.ts) and nothing else, no exception may reach
 * the hypervisor's `onError`, and ordinary pings must work afterwards.
 *
 * A runt shorter than the 14-octet Ethernet header cannot be made this way:
 * the kernel refuses to transmit one on an Ethernet device
 * (dev_validate_header), so the header-only frame is the shortest tested.
 *
 * The last tests are regressions named after what broke: an ARP probe
 * (RFC 5227) for the router's address went unanswered; IPv4 from 0.0.0.0
 * and IPv6 from ::1 were forwarded instead of dropped as martians; unicast
 * IP received in a link-layer broadcast or multicast frame was forwarded
 * (RFC 1812 5.3.4; Linux's ip_forward drops what is not PACKET_HOST).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DROP_REASON_NAMES, DropReason } from "../../router/counters.ts";
import type { RouterInterface } from "../../router/interface.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { arp, echoRequest, ether, ipv4, ipv6, neighborSolicitation } from "./craft.ts";
import { canRun, Lab, ping, sleep, until, warnIfSkipped } from "./lab.ts";

warnIfSkipped("test/integration/malformed.test.ts");

const lab = new Lab("m");

const ROUTER_MAC = "02:00:5e:10:05:0b";
const OTHER_MAC = "02:00:5e:10:05:99";
const SENDER_MAC = "02:00:5e:10:05:0c";
const IPV4 = 0x0800;
const IPV6 = 0x86dd;
const ARP = 0x0806;

type Reason = keyof typeof DropReason;

interface Case {
  what: string;
  ethertype: number;
  bytes: Uint8Array;
  reason: Reason;
}

// ---- the TUN side: bare IP packets from A (198.18.0.2) ----------------------

const echoToB = ipv4({ src: "198.18.0.2", dst: "198.18.1.2" });
const tunCases: Case[] = [
  { what: "one octet", ethertype: IPV4, bytes: Uint8Array.of(0x45), reason: "Malformed" },
  {
    what: "IPv4 header cut at 10 octets",
    ethertype: IPV4,
    bytes: echoToB.slice(0, 10),
    reason: "Malformed",
  },
  {
    what: "IHL 4 (below the minimum)",
    ethertype: IPV4,
    bytes: ipv4({ src: "198.18.0.2", dst: "198.18.1.2", ihl: 4 }),
    reason: "Malformed",
  },
  {
    what: "IHL 15 (a 60-octet header) on a 40-octet packet",
    ethertype: IPV4,
    bytes: ipv4({ src: "198.18.0.2", dst: "198.18.1.2", ihl: 15, totalLength: 60 }).slice(0, 40),
    reason: "Malformed",
  },
  {
    what: "total length below the header length",
    ethertype: IPV4,
    bytes: ipv4({ src: "198.18.0.2", dst: "198.18.1.2", totalLength: 12 }),
    reason: "Malformed",
  },
  {
    what: "total length past the end",
    ethertype: IPV4,
    bytes: ipv4({ src: "198.18.0.2", dst: "198.18.1.2", totalLength: 300 }),
    reason: "Malformed",
  },
  {
    what: "bad IPv4 header checksum",
    ethertype: IPV4,
    bytes: ipv4({ src: "198.18.0.2", dst: "198.18.1.2", badChecksum: true }),
    reason: "BadChecksum",
  },
  {
    what: "version 5",
    ethertype: IPV4,
    bytes: ipv4({ src: "198.18.0.2", dst: "198.18.1.2", version: 5 }),
    reason: "Malformed",
  },
  {
    what: "version 0",
    ethertype: IPV4,
    bytes: ipv4({ src: "198.18.0.2", dst: "198.18.1.2", version: 0 }),
    reason: "Malformed",
  },
  {
    what: "ICMP echo to the router with a bad ICMP checksum",
    ethertype: IPV4,
    bytes: ipv4({
      src: "198.18.0.2",
      dst: "198.18.0.1",
      payload: echoRequest().map((b, i) => (i === 3 ? b ^ 0xff : b)),
    }),
    reason: "Malformed",
  },
  {
    what: "loopback source",
    ethertype: IPV4,
    bytes: ipv4({ src: "127.0.0.1", dst: "198.18.1.2" }),
    reason: "Martian",
  },
  {
    what: "multicast source",
    ethertype: IPV4,
    bytes: ipv4({ src: "224.0.0.5", dst: "198.18.1.2" }),
    reason: "Martian",
  },
  {
    what: "IPv6 header cut at 30 octets",
    ethertype: IPV6,
    bytes: ipv6({ src: "2001:db8::2", dst: "2001:db8:1::2" }).slice(0, 30),
    reason: "Malformed",
  },
  {
    what: "IPv6 payload length past the end",
    ethertype: IPV6,
    bytes: ipv6({ src: "2001:db8::2", dst: "2001:db8:1::2", payloadLength: 400 }),
    reason: "Malformed",
  },
  {
    what: "IPv6 multicast source",
    ethertype: IPV6,
    bytes: ipv6({ src: "ff02::1", dst: "2001:db8:1::2" }),
    reason: "Martian",
  },
  {
    what: "IPv6 Hop-by-Hop header after a Destination Options header (to the router)",
    ethertype: IPV6,
    bytes: ipv6({
      src: "2001:db8::2",
      dst: "2001:db8::1",
      nextHeader: 60,
      payload: [0, 0, 1, 4, 0, 0, 0, 0, 58, 0, 1, 4, 0, 0, 0, 0, ...echoRequest(128)],
      icmpAt: 16,
    }),
    reason: "Malformed",
  },
  {
    what: "IPv6 extension header longer than the payload (to the router)",
    ethertype: IPV6,
    bytes: ipv6({
      src: "2001:db8::2",
      dst: "2001:db8::1",
      nextHeader: 60,
      payload: [58, 9, 1, 4, 0, 0, 0, 0, ...echoRequest(128)],
    }),
    reason: "Malformed",
  },
  {
    what: "IPv6 chain of nine Destination Options headers (to the router)",
    ethertype: IPV6,
    bytes: ipv6({
      src: "2001:db8::2",
      dst: "2001:db8::1",
      nextHeader: 60,
      payload: [
        ...Array.from({ length: 9 }, (_, k) => [k === 8 ? 58 : 60, 0, 1, 4, 0, 0, 0, 0]).flat(),
        ...echoRequest(128),
      ],
      icmpAt: 72,
    }),
    reason: "Malformed",
  },
  {
    what: "ICMPv6 echo to the router with a bad checksum",
    ethertype: IPV6,
    bytes: ipv6({ src: "2001:db8::2", dst: "2001:db8::1", payload: echoRequest(128) }),
    reason: "Malformed",
  },
];

// ---- the TAP side: Ethernet frames from T (198.18.1.2) ----------------------

const toRouter = (ethertype: number, payload: ArrayLike<number>, dst = ROUTER_MAC) =>
  ether(dst, SENDER_MAC, ethertype, payload);
const echoFromT = ipv4({ src: "198.18.1.2", dst: "198.18.1.1" });
const tapCases: Case[] = [
  {
    what: "header-only frame (14 octets), IPv4",
    ethertype: IPV4,
    bytes: toRouter(IPV4, []),
    reason: "Malformed",
  },
  {
    what: "header-only frame (14 octets), IPv6",
    ethertype: IPV6,
    bytes: toRouter(IPV6, []),
    reason: "Malformed",
  },
  {
    what: "ARP cut to 10 octets",
    ethertype: ARP,
    bytes: ether("ff:ff:ff:ff:ff:ff", SENDER_MAC, ARP, [0, 1, 8, 0, 6, 4, 0, 1, 2, 0]),
    reason: "Malformed",
  },
  {
    what: "a good echo for another station's MAC",
    ethertype: IPV4,
    bytes: toRouter(IPV4, echoFromT, OTHER_MAC),
    reason: "NotForUs",
  },
  {
    what: "unknown ethertype",
    ethertype: 0x88b5,
    bytes: toRouter(0x88b5, echoFromT),
    reason: "NotForUs",
  },
  {
    what: "802.1Q-tagged frame",
    ethertype: 0x8100,
    bytes: ether(ROUTER_MAC, SENDER_MAC, IPV4, echoFromT, 7),
    reason: "NotForUs",
  },
  {
    what: "IPv4 ethertype carrying a version-6 header",
    ethertype: IPV4,
    bytes: toRouter(IPV4, ipv6({ src: "2001:db8:1::2", dst: "2001:db8:1::1" })),
    reason: "Malformed",
  },
  {
    what: "IPv6 ethertype carrying a version-4 header",
    ethertype: IPV6,
    bytes: toRouter(IPV6, echoFromT),
    reason: "Malformed",
  },
  {
    what: "bad IPv4 header checksum",
    ethertype: IPV4,
    bytes: toRouter(IPV4, ipv4({ src: "198.18.1.2", dst: "198.18.1.1", badChecksum: true })),
    reason: "BadChecksum",
  },
  {
    what: "IPv4 total length past the end, broadcast frame",
    ethertype: IPV4,
    bytes: toRouter(
      IPV4,
      ipv4({ src: "198.18.1.2", dst: "198.18.1.1", totalLength: 600 }),
      "ff:ff:ff:ff:ff:ff",
    ),
    reason: "Malformed",
  },
  {
    what: "IPv4 header cut at 19 octets",
    ethertype: IPV4,
    bytes: toRouter(IPV4, echoFromT.slice(0, 19)),
    reason: "Malformed",
  },
  {
    what: "IPv6 payload length past the end",
    ethertype: IPV6,
    bytes: toRouter(IPV6, ipv6({ src: "2001:db8:1::2", dst: "2001:db8::2", payloadLength: 1000 })),
    reason: "Malformed",
  },
  {
    what: "IPv6 extension header running past the payload (to the router)",
    ethertype: IPV6,
    bytes: toRouter(
      IPV6,
      ipv6({
        src: "2001:db8:1::2",
        dst: "2001:db8:1::1",
        nextHeader: 0,
        payload: [58, 200, 1, 4, 0, 0, 0, 0, ...echoRequest(128)],
      }),
    ),
    reason: "Malformed",
  },
  {
    what: "neighbour solicitation with hop limit 64, not 255",
    ethertype: IPV6,
    bytes: ether(
      "33:33:ff:00:00:01",
      SENDER_MAC,
      IPV6,
      ipv6({
        src: "2001:db8:1::2",
        dst: "ff02::1:ff00:1",
        hopLimit: 64,
        payload: neighborSolicitation("2001:db8:1::1", SENDER_MAC),
        icmpAt: 0,
      }),
    ),
    reason: "Malformed",
  },
];

function drops(ifc: RouterInterface): number[] {
  return Array.from(ifc.counters.drops);
}

/** Drop counts that changed, by reason name, leaving out Scope (the kernel's own MLD chatter). */
function changed(before: number[], after: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  after.forEach((n, i) => {
    if (n !== before[i] && i !== DropReason.Scope) out[DROP_REASON_NAMES[i]] = n - before[i];
  });
  return out;
}

describe.skipIf(!canRun)("malformed packets from the kernel (root, real kernel)", () => {
  const errors: string[] = [];
  let router: VirtualRouter;
  let nsA: string;
  let nsT: string;
  let hvErrors: () => number;
  let tun: { send: (ethertype: number, bytes: Uint8Array) => Promise<void> };
  let tap: { send: (ethertype: number, bytes: Uint8Array) => Promise<void> };

  beforeAll(async () => {
    try {
      const hv = lab.hypervisor({ onError: (e, where) => errors.push(`${where}: ${e}`) });
      router = lab.router(hv, {
        name: "m",
        interfaces: [
          { name: "t", layer: "l3", addresses: ["198.18.0.1/24", "2001:db8::1/64"] },
          {
            name: "p",
            layer: "l2",
            mac: ROUTER_MAC,
            addresses: ["198.18.1.1/24", "2001:db8:1::1/64"],
          },
        ],
      });
      hvErrors = () => hv.stats().routers.m.errors;
      nsA = lab.ns();
      nsT = lab.ns();
      const t = hv.addTun({ device: lab.dev("t"), up: false });
      lab.moveIn(t.device, nsA);
      lab.setup(nsA, t.device, {
        addresses: ["198.18.0.2/24", "2001:db8::2/64"],
        routes: [
          ["198.18.0.0/15", "dev", t.device],
          ["2001:db8::/32", "dev", t.device],
        ],
      });
      const p = hv.addTap({ device: lab.dev("p"), up: false });
      lab.moveIn(p.device, nsT);
      lab.setup(nsT, p.device, {
        addresses: ["198.18.1.2/24", "2001:db8:1::2/64"],
        routes: [
          ["default", "via", "198.18.1.1"],
          ["default", "via", "2001:db8:1::1"],
        ],
      });
      hv.bind("m", 0, t.name);
      hv.bind("m", 1, p.name);
      [tun, tap] = await Promise.all([
        lab.packetSender(nsA, t.device),
        lab.packetSender(nsT, p.device),
      ]);
    } catch (e) {
      lab.cleanup();
      throw e;
    }
  });
  afterAll(() => {
    try {
      lab.cleanup();
    } finally {
      lab.sweep();
    }
  });

  async function check(
    sender: { send: (ethertype: number, bytes: Uint8Array) => Promise<void> },
    ifc: RouterInterface,
    c: Case,
    waitMs = 2000,
  ): Promise<void> {
    const before = drops(ifc);
    const rx = ifc.counters.rxPackets;
    await sender.send(c.ethertype, c.bytes);
    const reason = DropReason[c.reason];
    try {
      await until(() => Object.keys(changed(before, drops(ifc))).length > 0, waitMs, c.what);
    } catch {
      // Fall through: the comparison below says what happened instead.
    }
    await sleep(5);
    expect(ifc.counters.rxPackets, c.what).toBeGreaterThan(rx);
    expect(changed(before, drops(ifc)), c.what).toEqual({ [DROP_REASON_NAMES[reason]]: 1 });
  }

  it("drops each bad IP packet from the TUN side under its reason", async () => {
    for (const c of tunCases) await check(tun, router.ifaces[0], c);
    expect(router.ifaces[0].counters.txPackets).toBe(0); // nothing answered, nothing forwarded
  });

  it("drops each bad Ethernet frame from the TAP side under its reason", async () => {
    for (const c of tapCases) await check(tap, router.ifaces[1], c);
  });

  // ---- regressions ------------------------------------------------------------------

  it("answers an ARP probe (sender 0.0.0.0, RFC 5227) for its own address (regression: probes were ignored)", async () => {
    const p = router.ifaces[1];
    const tx = p.counters.txPackets;
    await tap.send(
      ARP,
      ether("ff:ff:ff:ff:ff:ff", SENDER_MAC, ARP, arp(1, SENDER_MAC, "0.0.0.0", "198.18.1.1")),
    );
    await until(() => p.counters.txPackets > tx, 1000, "an ARP reply to the probe");
  });

  it("drops an IPv4 packet from the unspecified source 0.0.0.0 as martian (regression: it was forwarded)", async () => {
    await check(
      tun,
      router.ifaces[0],
      {
        what: "unspecified source",
        ethertype: IPV4,
        bytes: ipv4({ src: "0.0.0.0", dst: "198.18.1.2" }),
        reason: "Martian",
      },
      500,
    );
  });

  it("drops an IPv6 packet from the loopback source ::1 as martian (regression: it was forwarded)", async () => {
    await check(
      tun,
      router.ifaces[0],
      {
        what: "loopback source",
        ethertype: IPV6,
        bytes: ipv6({ src: "::1", dst: "2001:db8:1::2" }),
        reason: "Martian",
      },
      500,
    );
  });

  for (const [what, mac, packet] of [
    [
      "IPv4 in a broadcast frame",
      "ff:ff:ff:ff:ff:ff",
      ipv4({ src: "198.18.1.2", dst: "198.18.0.2" }),
    ],
    [
      "IPv6 in an all-nodes multicast frame",
      "33:33:00:00:00:01",
      ipv6({ src: "2001:db8:1::2", dst: "2001:db8::2", payload: echoRequest(128) }),
    ],
  ] as const) {
    it(`does not forward unicast ${what} (RFC 1812 5.3.4; regression: it was forwarded)`, async () => {
      const t = router.ifaces[0];
      const tx = t.counters.txPackets;
      await tap.send(
        packet[0] >> 4 === 6 ? IPV6 : IPV4,
        ether(mac, SENDER_MAC, packet[0] >> 4 === 6 ? IPV6 : IPV4, packet),
      );
      await sleep(300);
      expect(t.counters.txPackets - tx).toBe(0);
    });
  }

  it("reported no exception, and ordinary pings work afterwards", async () => {
    expect(errors).toEqual([]);
    expect(hvErrors()).toBe(0);
    for (const [ns, address] of [
      [nsA, "198.18.0.1"],
      [nsA, "198.18.1.2"],
      [nsA, "2001:db8:1::2"],
      [nsT, "198.18.1.1"],
      [nsT, "2001:db8::2"],
    ]) {
      const p = await ping(ns, address, { count: 3, interval: 0.1 });
      expect(p.out, `${ns} -> ${address}`).toMatch(/3 packets transmitted, 3 received/);
    }
    expect(errors).toEqual([]);
  });
});
