import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseRouterConfig, type RouterConfig } from "../../router/config.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { ArpOperation, emitArp } from "../../router/wire/arp.ts";
import { internetChecksum } from "../../router/wire/checksum.ts";
import { CaptureReader, PacketIndex } from "../../tools/replay/capture.ts";
import { type ReplayOptions, replay } from "../../tools/replay/engine.ts";
import { PEER_MAC } from "../../tools/replay/ingress.ts";
import type { ReplaySummary } from "../../tools/replay/summary.ts";
import { frame, ip4, ipv4Packet, ipv6Packet } from "../router/packets.ts";
import { PcapngBuilder, type PcapRecord, pcapFile } from "./captures.ts";

const ETH1_MAC = 0x02_00_00_00_20_01;
const HOST_MAC = 0x02_00_00_00_10_09;

function config(): RouterConfig {
  const c = parseRouterConfig({
    name: "vr1",
    interfaces: [
      { name: "eth0", layer: "l3", addresses: ["198.18.10.1/24", "2001:db8:10::1/64"] },
      {
        name: "eth1",
        layer: "l2",
        mac: "02:00:00:00:20:01",
        addresses: ["198.18.20.1/24", "2001:db8:20::1/64"],
      },
    ],
    staticRoutes: [
      { prefix: "198.18.30.0/24", via: "198.18.20.2" },
      { prefix: "198.18.40.0/24", action: "reject" },
    ],
  });
  if (!c.ok) throw new Error(c.errors.join("; "));
  return c.config;
}

const neighbors = [
  { iface: "eth1", address: "198.18.20.2", mac: "02:00:00:00:20:02" },
  { iface: "eth1", address: "2001:db8:20::5", mac: "02:00:00:00:20:05" },
];

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "vroom-replay-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Out {
  data: Uint8Array;
  sec: number;
  nsec: number;
}

/** Every record of a capture file. */
function readPcap(path: string): { linkType: number; packets: Out[] } {
  const opened = CaptureReader.open(path);
  if (!opened.ok) throw new Error(opened.error.message);
  const r = opened.reader;
  const index = new PacketIndex(1024);
  const packets: Out[] = [];
  for (let n = r.fill(index); n > 0; n = r.fill(index)) {
    for (let i = 0; i < n; i++) {
      packets.push({
        data: r.buf.slice(index.at[i], index.at[i] + index.capLen[i]),
        sec: index.sec[i],
        nsec: index.nsec[i],
      });
    }
  }
  if (r.error) throw new Error(r.error.message);
  return { linkType: r.interfaces[0].linkType, packets };
}

function run(o: Partial<ReplayOptions> & { input: ReplayOptions["input"] }): {
  summary: ReplaySummary;
  router: VirtualRouter;
  out: string;
} {
  const out = tmp();
  let router: VirtualRouter | undefined;
  const r = replay({
    config: config(),
    outDir: out,
    neighbors,
    setup: (vr) => {
      router = vr;
    },
    ...o,
  });
  if (!r.ok) throw new Error(r.error);
  return { summary: r.summary, router: router as VirtualRouter, out };
}

function udp(size: number): Uint8Array {
  return Uint8Array.from({ length: 8 + size }, (_, i) =>
    i < 8 ? [0x30, 0x39, 0, 53, 0, 8 + size, 0, 0][i] : i,
  );
}

/** The mixed traffic of the verdict tests, entering eth0 (raw IP), one per second from t=1000 s. */
function mixed(): PcapRecord[] {
  const bad = ipv4Packet({ src: "198.18.10.9", dst: "198.18.30.5" });
  bad[10] ^= 0xff;
  const packets = [
    ipv4Packet({ src: "198.18.10.9", dst: "198.18.30.5", protocol: 17, payload: udp(40) }),
    ipv4Packet({ src: "198.18.10.9", dst: "198.18.30.5", ttl: 1 }),
    ipv4Packet({ src: "198.18.10.9", dst: "203.0.113.1" }),
    ipv4Packet({ src: "198.18.10.9", dst: "198.18.40.7" }),
    ipv6Packet({ src: "2001:db8:10::9", dst: "2001:db8:20::5" }),
    ipv6Packet({ src: "2001:db8:10::9", dst: "2001:db8:20::5", hopLimit: 1 }),
    ipv4Packet({ src: "198.18.10.9", dst: "198.18.10.1" }),
    bad,
    ipv4Packet({ src: "198.18.10.9", dst: "198.18.20.9" }),
  ];
  return packets.map((data, i) => ({ data, sec: 1000 + i, frac: 250 }));
}

describe("replay verdicts", () => {
  it("forwards, answers and drops as the router's counters say, and writes each interface's output", () => {
    const { summary: s, router, out } = run({ input: pcapFile(mixed()) });
    const c = router.counters();
    // The summary is the router's counters.
    expect(s.dropReasons).toEqual(c.router.drops);
    expect(s.dropped).toBe(
      Object.values(c.router.drops as Record<string, number>).reduce((a, b) => a + b, 0),
    );
    for (const name of ["eth0", "eth1"]) {
      const ci = c.interfaces[name] as { txPackets: number; rxPackets: number; drops: object };
      expect(s.interfaces[name].sent).toBe(ci.txPackets);
      expect(s.interfaces[name].drops).toEqual(ci.drops);
    }
    expect(s.interfaces.eth0.received).toBe(c.interfaces.eth0.rxPackets);
    expect(s).toMatchObject({
      packets: 9,
      injected: 9,
      skipped: 0,
      dropReasons: {
        "bad-checksum": 1,
        "no-route": 1,
        "ttl-expired": 2,
        prohibited: 1,
        "neighbor-unresolved": 1,
      },
      unresolvedNeighbors: ["eth1 198.18.20.9"],
    });
    // Out of eth1: the UDP packet and the IPv6 packet, then three ARP requests for 198.18.20.9.
    expect(s.interfaces.eth1).toMatchObject({ forwarded: 2, generated: 3, solicitations: 3 });
    // Out of eth0: time exceeded x2, net unreachable, prohibited, echo reply, host unreachable.
    expect(s.interfaces.eth0).toMatchObject({ forwarded: 0, generated: 6, icmpErrors: 5 });
    expect(s.forwarded).toBe(2);
    expect(s.icmpErrors).toBe(5);

    const eth1 = readPcap(join(out, "eth1.pcap"));
    expect(eth1.linkType).toBe(1);
    const [fwd4, fwd6, ...arps] = eth1.packets;
    // Forwarded to the static neighbour's MAC, TTL 63, checksum still right, stamped like its input.
    expect([...fwd4.data.subarray(0, 6)]).toEqual([2, 0, 0, 0, 0x20, 2]);
    expect(fwd4.data[14 + 8]).toBe(63);
    expect(internetChecksum(fwd4.data, 14, 20)).toBe(0);
    expect([fwd4.sec, fwd4.nsec]).toEqual([1000, 250_000]);
    expect(fwd6.data[14 + 7]).toBe(63);
    expect(fwd6.sec).toBe(1004);
    // The ARP requests: the first when the packet came, then one a second.
    expect(arps.map((a) => (a.data[12] << 8) | a.data[13])).toEqual([0x0806, 0x0806, 0x0806]);
    expect(arps.map((a) => a.sec)).toEqual([1008, 1009, 1010]);

    const eth0 = readPcap(join(out, "eth0.pcap"));
    expect(eth0.linkType).toBe(101);
    const icmp = eth0.packets.map((p) => [p.data[20], p.data[21], p.sec]);
    expect(icmp).toEqual(
      [
        [11, 0, 1001],
        [3, 0, 1002],
        [3, 13, 1003],
        [0, 0, 1006], // echo reply from 198.18.10.1
        [0, 0, 1005], // ICMPv6 time exceeded (bytes 20-21 are inside its IPv6 source address)
        [3, 1, 1011], // host unreachable once resolution gave up, 3 s after the packet
      ].sort((a, b) => a[2] - b[2]),
    );
    const v6 = eth0.packets.find((p) => p.data[0] >>> 4 === 6);
    expect(v6?.data[40]).toBe(3); // ICMPv6 time exceeded
  });

  it("writes files tcpdump reads, with the expected packets", (ctx) => {
    if (!existsSync("/usr/bin/tcpdump") && !existsSync("/usr/sbin/tcpdump")) {
      ctx.skip("tcpdump is not installed (Debian package tcpdump)");
    }
    const { out } = run({ input: pcapFile(mixed()) });
    const text = (f: string) =>
      execFileSync("tcpdump", ["-r", join(out, f), "-n", "-v", "-e"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
    const eth1 = text("eth1.pcap");
    expect(eth1).toMatch(
      /02:00:00:00:20:01 > 02:00:00:00:20:02, ethertype IPv4 .*ttl 63.*proto UDP/,
    );
    expect(eth1).toMatch(/Request who-has 198\.18\.20\.9 tell 198\.18\.20\.1/);
    expect(eth1).toMatch(/2001:db8:10::9 > 2001:db8:20::5: \[icmp6 sum ok\] ICMP6, echo request/);
    const eth0 = text("eth0.pcap");
    expect(eth0).toMatch(/198\.18\.10\.1 > 198\.18\.10\.9: ICMP time exceeded in-transit/);
    expect(eth0).toMatch(/ICMP net 203\.0\.113\.1 unreachable/);
    expect(eth0).toMatch(/ICMP host 198\.18\.40\.7 unreachable - admin prohibited/);
    expect(eth0).toMatch(/ICMP host 198\.18\.20\.9 unreachable/);
    expect(eth0).toMatch(/ICMP6, time exceeded in-transit/);
    expect(eth0).toMatch(/ICMP echo reply/);
  });

  it("keeps waiting packets pending without drain, and answers none", () => {
    const { summary } = run({ input: pcapFile(mixed()), drain: false });
    expect(summary.dropReasons["neighbor-unresolved"]).toBeUndefined();
    expect(summary.interfaces.eth1.solicitations).toBe(1);
    expect(summary.unresolvedNeighbors).toEqual(["eth1 198.18.20.9"]);
  });

  it("learns neighbours from the capture's own ARP replies and sends what waited", () => {
    const reply = new Uint8Array(28);
    emitArp(
      {
        operation: ArpOperation.Reply,
        senderMac: 0x02_00_00_00_20_09,
        senderIp: ip4("198.18.20.9"),
        targetMac: ETH1_MAC,
        targetIp: ip4("198.18.20.1"),
      },
      reply,
      0,
    );
    const bytes = new PcapngBuilder()
      .section()
      .interface(101, { name: "tun" })
      .interface(1, { name: "tap" })
      .epb(0, 1_000_000n, ipv4Packet({ src: "198.18.10.9", dst: "198.18.20.9" }))
      .epb(1, 1_500_000n, frame(ETH1_MAC, 0x02_00_00_00_20_09, 0x0806, reply))
      .bytes();
    const { summary: s, out } = run({ input: bytes, map: { tun: "eth0", tap: "eth1" } });
    expect(s.capture.interfaces).toEqual([
      { index: 0, name: "tun", linkType: 101, routerInterface: "eth0" },
      { index: 1, name: "tap", linkType: 1, routerInterface: "eth1" },
    ]);
    expect(s.unresolvedNeighbors).toEqual([]);
    expect(s.dropped).toBe(0);
    const eth1 = readPcap(join(out, "eth1.pcap")).packets;
    expect(eth1.map((p) => [(p.data[12] << 8) | p.data[13], p.sec, p.nsec])).toEqual([
      [0x0806, 1, 0],
      [0x0800, 1, 500_000_000], // sent when the reply came, stamped with the reply
    ]);
    expect([...eth1[1].data.subarray(0, 6)]).toEqual([2, 0, 0, 0, 0x20, 9]);
  });
});

describe("replay ingress", () => {
  it("takes Ethernet frames on an L2 interface, re-addressed when asked", () => {
    const f = frame(
      0x02_aa_aa_aa_aa_aa,
      HOST_MAC,
      0x0800,
      ipv4Packet({ src: "198.18.20.7", dst: "198.18.30.5" }),
    );
    const input = pcapFile([{ data: f }], { linkType: 1 });
    const strict = run({ input }).summary;
    expect(strict.dropReasons).toEqual({ "not-for-us": 1 });
    expect(strict.capture.interfaces[0].routerInterface).toBe("eth1");
    const adopted = run({ input, rewriteDstMac: true }).summary;
    expect(adopted.dropped).toBe(0);
    expect(adopted.interfaces.eth1.forwarded).toBe(1);
  });

  it("strips Ethernet (and one VLAN tag) for an L3 interface and skips frames that are not IP", () => {
    const ip = ipv4Packet({ src: "198.18.10.9", dst: "198.18.30.5" });
    const tagged = new Uint8Array(18 + ip.length);
    tagged.set(frame(1, 2, 0x8100, new Uint8Array(0)).subarray(0, 14));
    tagged[14] = 0;
    tagged[15] = 5;
    tagged[16] = 0x08;
    tagged[17] = 0x00;
    tagged.set(ip, 18);
    const input = pcapFile(
      [
        { data: frame(1, 2, 0x0800, ip) },
        { data: tagged },
        { data: frame(1, 2, 0x0806, new Uint8Array(28)) },
      ],
      { linkType: 1 },
    );
    const s = run({ input, iface: "eth0" }).summary;
    expect(s).toMatchObject({ injected: 2, skipped: 1, skipReasons: { "not-ip": 1 } });
    expect(s.interfaces.eth1.forwarded).toBe(2);
  });

  it("frames raw IP for an L2 interface from a peer MAC, and reads Linux cooked captures", () => {
    const ip = ipv4Packet({
      src: "198.18.20.7",
      dst: "198.18.10.9",
      protocol: 17,
      payload: udp(4),
    });
    const raw = run({ input: pcapFile([{ data: ip }]), iface: "eth1" }).summary;
    expect(raw.interfaces.eth0.forwarded).toBe(1);
    // SLL: packet type 0, ARPHRD_ETHER, 6-byte address, protocol IPv4.
    const sll = new Uint8Array(16 + ip.length);
    sll.set([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0x20, 7, 0, 0, 0x08, 0x00]);
    sll.set(ip, 16);
    // SLL2: protocol first, then reserved, ifindex, ARPHRD, packet type, address length, address.
    const sll2 = new Uint8Array(20 + ip.length);
    sll2.set([0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0x20, 7, 0, 0]);
    sll2.set(ip, 20);
    const arp = new Uint8Array(16 + 28);
    arp.set([0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0x20, 7, 0, 0, 0x08, 0x06]);
    for (const [linkType, data] of [
      [113, sll],
      [276, sll2],
    ] as const) {
      const l3 = run({ input: pcapFile([{ data }, { data: arp }], { linkType }) }).summary;
      expect(l3.capture.interfaces[0].routerInterface).toBe("eth0");
      expect(l3).toMatchObject({
        injected: 1,
        skipReasons: linkType === 113 ? { "not-ip": 1 } : {},
      });
      const l2 = run({ input: pcapFile([{ data }], { linkType }), iface: "eth1" });
      expect(l2.summary.interfaces.eth0.forwarded).toBe(1);
    }
    expect(PEER_MAC % 2 ** 41 < 2 ** 40).toBe(true);
  });

  it("skips packets the capture cut short or that exceed a slot, and says why", () => {
    const ip = ipv4Packet({ src: "198.18.10.9", dst: "198.18.30.5" });
    const huge = new Uint8Array(70_000);
    const s = run({
      input: pcapFile([
        { data: ip.subarray(0, 20), origLen: ip.length },
        { data: huge },
        { data: ip },
      ]),
    }).summary;
    expect(s).toMatchObject({
      packets: 3,
      injected: 1,
      skipped: 2,
      skipReasons: { snapped: 1, oversize: 1 },
    });
  });

  it("replays every good packet of a truncated capture, then reports where it stopped", () => {
    const recs = mixed();
    const bytes = pcapFile(recs);
    const { summary } = run({ input: bytes.subarray(0, bytes.length - 5) });
    expect(summary.packets).toBe(recs.length - 1);
    expect(summary.injected).toBe(recs.length - 1);
    expect(summary.error).toMatchObject({
      packet: recs.length,
      message: expect.stringMatching(/truncated/),
    });
    expect(summary.interfaces.eth1.forwarded).toBe(2);
  });

  it("refuses bad options and unreadable captures with one clear message", () => {
    const input = pcapFile(mixed());
    const err = (o: Partial<ReplayOptions>) => {
      const r = replay({ config: config(), input, ...o });
      return r.ok ? "ok" : r.error;
    };
    expect(err({ iface: "eth9" })).toBe("router vr1 has no interface 'eth9' (it has eth0, eth1)");
    expect(err({ map: { x: "nope" } })).toMatch(/--map x=nope: router vr1 has no interface 'nope'/);
    expect(
      err({ neighbors: [{ iface: "eth0", address: "198.18.10.2", mac: "02:00:00:00:00:01" }] }),
    ).toMatch(/eth0 is an l3 interface/);
    expect(err({ neighbors: [{ iface: "eth1", address: "x", mac: "02:00:00:00:00:01" }] })).toMatch(
      /'x' is not an IP address/,
    );
    expect(err({ neighbors: [{ iface: "eth1", address: "198.18.20.3", mac: "zz" }] })).toMatch(
      /'zz' is not a MAC address/,
    );
    expect(err({ input: pcapFile([], { linkType: 105 }) })).toMatch(
      /capture link type 105 is not supported/,
    );
    expect(err({ input: "/nonexistent/x.pcap" })).toMatch(
      /^\/nonexistent\/x\.pcap: no such file or directory/i,
    );
    expect(err({ input: new Uint8Array([1, 2, 3, 4, 5]) })).toMatch(/not a pcap or pcapng file/);
    const l3only = parseRouterConfig({ name: "r", interfaces: [{ name: "t", layer: "l3" }] });
    if (!l3only.ok) throw new Error("config");
    const r = replay({ config: l3only.config, input: pcapFile([], { linkType: 1 }) });
    expect(r.ok ? "ok" : r.error).toMatch(
      /router r has no l2 interface for EN10MB \(Ethernet\) packets; choose one with --interface/,
    );
  });

  it("stamps timer packets with their deadline and keeps time monotonic", () => {
    const recs = [
      { data: ipv4Packet({ src: "198.18.10.9", dst: "198.18.20.9" }), sec: 50, frac: 0 },
      { data: ipv4Packet({ src: "198.18.10.9", dst: "198.18.30.5" }), sec: 49, frac: 0 },
      { data: ipv4Packet({ src: "198.18.10.9", dst: "198.18.30.5" }), sec: 52, frac: 500_000 },
    ];
    const { out } = run({ input: pcapFile(recs) });
    const eth1 = readPcap(join(out, "eth1.pcap")).packets;
    // ARP at 50, the packet stamped 49 as captured, the retry at 51 (a timer), the last packet, the retry at 52.
    expect(eth1.map((p) => [(p.data[12] << 8) | p.data[13], p.sec, p.nsec])).toEqual([
      [0x0806, 50, 0],
      [0x0800, 49, 0],
      [0x0806, 51, 0],
      [0x0806, 52, 0],
      [0x0800, 52, 500_000_000],
    ]);
  });
});

describe("replay of pcapng interfaces nothing can take", () => {
  it("skips their packets, says why, and warns of --map keys that matched nothing", () => {
    const bytes = new PcapngBuilder()
      .section()
      .interface(105, { name: "wlan0" })
      .interface(101, { name: "tun0" })
      .epb(0, 1n, new Uint8Array(30))
      .epb(1, 2n, ipv4Packet({ src: "198.18.10.9", dst: "198.18.30.5" }))
      .bytes();
    const { summary: s } = run({ input: bytes, map: { nope: "eth0" } });
    expect(s).toMatchObject({
      packets: 2,
      injected: 1,
      skipReasons: { "unsupported-link-type": 1 },
    });
    expect(s.capture.interfaces[0]).toEqual({
      index: 0,
      name: "wlan0",
      linkType: 105,
      routerInterface: null,
    });
    expect(s.warnings).toEqual([
      expect.stringMatching(
        /^capture interface 0 \(wlan0\): capture link type 105 is not supported .*; its packets are skipped$/,
      ),
      "--map nope: no capture interface of that name or number",
    ]);
  });
});

describe("replay to no directory", () => {
  it("counts outputs without writing files", () => {
    const r = replay({ config: config(), input: pcapFile(mixed()), neighbors });
    expect(r.ok && r.summary.interfaces.eth1.file).toBeUndefined();
    expect(r.ok && r.summary.forwarded).toBe(2);
  });
});
