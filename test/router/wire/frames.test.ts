/**
 * Whole frames built from every format's emitter and taken apart layer by
 * layer (util.ts `dissect`): ARP, IPv4 with options, IPv6 with extension
 * headers, ICMP, ICMPv6 and NDP, UDP, VXLAN with an inner frame. Every
 * truncation of every frame fails at some layer (the IP and UDP lengths see
 * what a checksum alone might miss), mutated and random frames never throw,
 * and the data plane's in-place steps (TTL and hop-limit decrement, MAC
 * rewrite, Time Exceeded built in the batch buffer) leave valid frames.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { emitArp } from "../../../router/wire/arp.ts";
import { ipv4PseudoSum, ipv6PseudoSum } from "../../../router/wire/checksum.ts";
import { EtherType, emitEthernet, setEthDst, setEthSrc } from "../../../router/wire/ethernet.ts";
import {
  emitIcmpv4,
  emitIcmpv4TimeExceeded,
  Icmpv4TimeExceeded,
  icmpv4QuoteLength,
} from "../../../router/wire/icmpv4.ts";
import { emitIcmpv6 } from "../../../router/wire/icmpv6.ts";
import { IpProtocol } from "../../../router/wire/ip.ts";
import {
  emitIpv4,
  type Ipv4Repr,
  ipv4DecrementTtl,
  ipv4Src,
  NO_OPTIONS,
} from "../../../router/wire/ipv4.ts";
import {
  emitIpv6,
  type Ipv6ExtHeader,
  ipv6DecrementHopLimit,
  ipv6FragmentHeader,
  ipv6OptionsHeader,
} from "../../../router/wire/ipv6.ts";
import { emitNdp, solicitedNodeAddress } from "../../../router/wire/ndp.ts";
import { emitUdp } from "../../../router/wire/udp.ts";
import { VXLAN_PORT, writeVxlanHeader } from "../../../router/wire/vxlan.ts";
import { dissect, embed, v4, v6 } from "./util.ts";

const MAC_A = 0x020000000001;
const MAC_B = 0x020000000002;
const V4A = v4("198.18.0.1");
const V4B = v4("198.19.0.2");
const V6A = v6("2001:db8::1");
const V6B = v6("2001:db8::2");

type Writer = (buf: Uint8Array, off: number) => number;

function ipv4Repr(protocol: number, payloadLength: number, options = NO_OPTIONS): Ipv4Repr {
  return {
    dscp: 0,
    ecn: 0,
    identification: 99,
    dontFragment: true,
    moreFragments: false,
    reservedFlag: false,
    fragmentOffset: 0,
    ttl: 64,
    protocol,
    src: V4A,
    dst: V4B,
    options,
    payloadLength,
  };
}

/** Ethernet header (tagged when `vid` is given), then `inner`. */
function ethernet(ethertype: number, inner: Writer, vid?: number): Writer {
  return (buf, off) => {
    const vlan = vid === undefined ? null : { pcp: 0, dei: false, vid };
    const hl = emitEthernet({ dst: MAC_B, src: MAC_A, vlan, ethertype }, buf, off);
    return hl + inner(buf, off + hl);
  };
}

/** IPv4 header, then an upper layer written at its place (its length known only once written). */
function ipv4(
  protocol: number,
  upper: (buf: Uint8Array, off: number) => number,
  options = NO_OPTIONS,
): Writer {
  return (buf, off) => {
    const hl = 20 + options.length;
    const n = upper(buf, off + hl);
    emitIpv4(ipv4Repr(protocol, n, options), buf, off);
    return hl + n;
  };
}

function ipv6(
  protocol: number,
  upper: Writer,
  extensions: Ipv6ExtHeader[] = [],
  dst = V6B,
): Writer {
  return (buf, off) => {
    let hl = 40;
    for (const e of extensions) hl += 1 + e.data.length;
    const n = upper(buf, off + hl);
    const r = {
      trafficClass: 0,
      flowLabel: 7,
      hopLimit: 255,
      src: V6A,
      dst,
      extensions,
      protocol,
      payloadLength: n,
    };
    return emitIpv6(r, buf, off) + n;
  };
}

function udp(dstPort: number, payload: Writer, pseudo?: number): Writer {
  return (buf, off) => {
    const n = payload(buf, off + 8);
    const p = buf.slice(off + 8, off + 8 + n);
    return emitUdp({ srcPort: 49152, dstPort, payload: p }, buf, off, pseudo);
  };
}

const echo4: Writer = (buf, off) =>
  emitIcmpv4(
    { kind: "echoRequest", code: 0, identifier: 1, sequence: 2, data: new Uint8Array(24).fill(9) },
    buf,
    off,
  );
const echo6: Writer = (buf, off) =>
  emitIcmpv6(
    { kind: "echoRequest", code: 0, identifier: 1, sequence: 2, data: new Uint8Array(24).fill(9) },
    buf,
    off,
    ipv6PseudoSum(V6A, V6B, IpProtocol.Icmpv6),
  );
const snm = new Uint32Array(4);
solicitedNodeAddress(V6B, snm);
const ns: Writer = (buf, off) =>
  emitNdp(
    {
      kind: "neighborSolicitation",
      reserved: 0,
      target: V6B,
      options: [{ kind: "sourceLinkLayer", address: MAC_A }],
    },
    buf,
    off,
    ipv6PseudoSum(V6A, snm, IpProtocol.Icmpv6),
  );
const data =
  (n: number): Writer =>
  (buf, off) => {
    for (let i = 0; i < n; i++) buf[off + i] = i;
    return n;
  };

const FRAMES: Record<string, { write: Writer; layers: string[] }> = {
  "ARP request": {
    write: ethernet(EtherType.Arp, (b, o) =>
      emitArp({ operation: 1, senderMac: MAC_A, senderIp: V4A, targetMac: 0, targetIp: V4B }, b, o),
    ),
    layers: ["ethernet", "arp"],
  },
  "tagged IPv4 echo": {
    write: ethernet(EtherType.Ipv4, ipv4(IpProtocol.Icmp, echo4), 100),
    layers: ["ethernet", "ipv4", "icmpv4"],
  },
  "IPv4 with options, UDP": {
    write: ethernet(
      EtherType.Ipv4,
      ipv4(
        IpProtocol.Udp,
        udp(53, data(30), ipv4PseudoSum(V4A, V4B, 17)),
        new Uint8Array([0x94, 4, 0, 0]),
      ),
    ),
    layers: ["ethernet", "ipv4", "udp"],
  },
  "IPv6 neighbor solicitation": {
    write: ethernet(EtherType.Ipv6, ipv6(IpProtocol.Icmpv6, ns, [], snm)),
    layers: ["ethernet", "ipv6", "icmpv6", "ndp"],
  },
  "IPv6 echo behind Hop-by-Hop": {
    write: ethernet(
      EtherType.Ipv6,
      ipv6(IpProtocol.Icmpv6, echo6, [
        ipv6OptionsHeader(IpProtocol.HopByHop, new Uint8Array([5, 2, 0, 0])),
      ]),
    ),
    layers: ["ethernet", "ipv6", "icmpv6"],
  },
  "IPv6 first fragment, UDP": {
    write: ethernet(
      EtherType.Ipv6,
      ipv6(IpProtocol.Udp, udp(7, data(20), ipv6PseudoSum(V6A, V6B, 17)), [
        ipv6OptionsHeader(IpProtocol.DestinationOptions, new Uint8Array(0)),
        ipv6FragmentHeader(0, false, 5),
      ]),
    ),
    layers: ["ethernet", "ipv6", "udp"],
  },
  "VXLAN over IPv4 (no UDP checksum), inner IPv6 echo": {
    write: ethernet(
      EtherType.Ipv4,
      ipv4(
        IpProtocol.Udp,
        udp(
          VXLAN_PORT,
          (b, o) =>
            writeVxlanHeader(b, o, 42) +
            ethernet(EtherType.Ipv6, ipv6(IpProtocol.Icmpv6, echo6))(b, o + 8),
        ),
      ),
    ),
    layers: ["ethernet", "ipv4", "udp", "vxlan", "inner ethernet", "inner ipv6", "inner icmpv6"],
  },
  "VXLAN over IPv6 (UDP checksum), inner tagged IPv4 echo": {
    write: ethernet(
      EtherType.Ipv6,
      ipv6(
        IpProtocol.Udp,
        udp(
          VXLAN_PORT,
          (b, o) =>
            writeVxlanHeader(b, o, 0xabcdef) +
            ethernet(EtherType.Ipv4, ipv4(IpProtocol.Icmp, echo4), 7)(b, o + 8),
          ipv6PseudoSum(V6A, V6B, 17),
        ),
      ),
    ),
    layers: ["ethernet", "ipv6", "udp", "vxlan", "inner ethernet", "inner ipv4", "inner icmpv4"],
  },
};

function build(write: Writer): Uint8Array {
  const buf = new Uint8Array(4096);
  const n = write(buf, 0);
  return buf.slice(0, n);
}

describe("whole frames", () => {
  for (const [name, { write, layers }] of Object.entries(FRAMES)) {
    it(`${name}: every layer checks`, () => {
      const frame = build(write);
      const { buf, off } = embed(frame);
      expect(dissect(buf, off, frame.length)).toEqual({ ok: true, layers });
    });

    it(`${name}: every truncation fails`, () => {
      const frame = build(write);
      const { buf, off } = embed(frame);
      for (let len = 0; len < frame.length; len++) {
        const d = dissect(buf, off, len);
        if (d.ok)
          throw new Error(
            `${name}: truncation to ${len} of ${frame.length} passed: ${d.layers.join("/")}`,
          );
      }
    });
  }

  it("never throws on mutated frames or random octets", () => {
    const frames = Object.values(FRAMES).map((f) => build(f.write));
    fc.assert(
      fc.property(
        fc.constantFrom(...frames),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(),
        (frame, edits, cut) => {
          const f = frame.slice();
          for (const [at, v] of edits) f[at % f.length] = v;
          const { buf, off } = embed(f);
          dissect(buf, off, f.length - (cut % 8));
        },
      ),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (f) => {
        dissect(f, 0, f.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("data plane steps in place", () => {
  it("forwards IPv4: decrement TTL, rewrite MACs; the frame stays valid", () => {
    const frame = build(FRAMES["tagged IPv4 echo"].write);
    const { buf, off } = embed(frame);
    const ip = off + 18;
    expect(ipv4DecrementTtl(buf, ip)).toBe(63);
    setEthDst(buf, off, 0x02000000aaaa);
    setEthSrc(buf, off, 0x02000000bbbb);
    expect(dissect(buf, off, frame.length).ok).toBe(true);
  });

  it("forwards IPv6: decrement the hop limit; the frame stays valid", () => {
    const frame = build(FRAMES["IPv6 echo behind Hop-by-Hop"].write);
    const { buf, off } = embed(frame);
    expect(ipv6DecrementHopLimit(buf, off + 14)).toBe(254);
    expect(dissect(buf, off, frame.length).ok).toBe(true);
  });

  it("answers TTL 1 with Time Exceeded built in front of the offending packet in the batch buffer", () => {
    const frame = build(FRAMES["IPv4 with options, UDP"].write);
    const batch = new Uint8Array(512).fill(0xa5);
    const at = 200;
    batch.set(frame, at);
    const ip = at + 14;
    const offending = frame.length - 14;
    const quote = icmpv4QuoteLength(batch, ip, offending);
    expect(quote).toBe(24 + 8);
    // The error frame (14 + 20 + 8 + 32 octets) ends where the offending IPv4 packet
    // begins: it overwrites the old Ethernet header, and the quote moves back over it.
    const errOff = ip - (14 + 20 + 8 + quote);
    const icmpOff = errOff + 14 + 20;
    const icmpLen = emitIcmpv4TimeExceeded(
      batch,
      icmpOff,
      Icmpv4TimeExceeded.Ttl,
      batch,
      ip,
      offending,
    );
    emitIpv4(
      {
        ...ipv4Repr(IpProtocol.Icmp, icmpLen),
        src: v4("198.18.0.254"),
        dst: ipv4Src(batch, ip),
        ttl: 64,
      },
      batch,
      errOff + 14,
    );
    emitEthernet({ dst: MAC_A, src: MAC_B, vlan: null, ethertype: EtherType.Ipv4 }, batch, errOff);
    const len = 14 + 20 + icmpLen;
    expect(dissect(batch, errOff, len)).toEqual({
      ok: true,
      layers: ["ethernet", "ipv4", "icmpv4"],
    });
    expect(batch.subarray(icmpOff + 8, icmpOff + 8 + quote)).toEqual(
      frame.subarray(14, 14 + quote),
    );
  });
});
