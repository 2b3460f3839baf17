/** BGP wire formats: header, OPEN, capabilities, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH, UPDATE and attributes, framing. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CeaseSubcode,
  ErrorCode,
  HeaderSubcode,
  OpenSubcode,
  RouteRefreshSubcode,
} from "../../../router/bgp/errors.ts";
import {
  asPathFromSegments,
  asPathLength,
  asPathOrigin,
  asPathPrepend,
  asPathText,
  encodeAttributes,
  mergeAs4Path,
  type PathAttributes,
  SegmentType,
} from "../../../router/bgp/wire/attributes.ts";
import { parseCapabilities } from "../../../router/bgp/wire/capabilities.ts";
import { checkHeader, encodeKeepalive, MessageType } from "../../../router/bgp/wire/header.ts";
import {
  ceaseError,
  encodeNotification,
  parseNotification,
  shutdownCommunication,
} from "../../../router/bgp/wire/notification.ts";
import { AS_TRANS, encodeOpen, type OpenRepr, parseOpen } from "../../../router/bgp/wire/open.ts";
import { encodeRouteRefresh, parseRouteRefresh } from "../../../router/bgp/wire/route-refresh.ts";
import { MessageFramer } from "../../../router/bgp/wire/stream.ts";
import {
  decodeUpdate,
  encodeEndOfRib,
  encodeUpdate,
  endOfRibFamily,
  parseUpdate,
  UpdateAction,
  UpdatePacker,
  type UpdateRepr,
} from "../../../router/bgp/wire/update.ts";
import { attributes, CTX, hex, prefix4, prefix4Of, prefix6, u16, u32 } from "./fixtures.ts";

describe("header and KEEPALIVE", () => {
  it("checks marker, length and type (RFC 4271 6.1)", () => {
    const k = encodeKeepalive();
    expect(k).toEqual(hex("ffffffffffffffffffffffffffffffff 0013 04"));
    expect(checkHeader(k, 0)).toBeUndefined();
    const badMarker = k.slice();
    badMarker[3] = 0;
    expect(checkHeader(badMarker, 0)).toMatchObject({
      code: 1,
      subcode: HeaderSubcode.ConnectionNotSynchronized,
    });
    const long = k.slice();
    long[17] = 20;
    expect(checkHeader(long, 0)).toEqual({
      code: 1,
      subcode: HeaderSubcode.BadMessageLength,
      data: hex("0014"),
    });
    const big = k.slice();
    big[16] = 0x10;
    big[17] = 0x01;
    expect(checkHeader(big, 0)?.subcode).toBe(HeaderSubcode.BadMessageLength);
    const type = k.slice();
    type[18] = 9;
    expect(checkHeader(type, 0)).toEqual({
      code: 1,
      subcode: HeaderSubcode.BadMessageType,
      data: Uint8Array.of(9),
    });
    const shortOpen = k.slice();
    shortOpen[18] = MessageType.Open;
    expect(checkHeader(shortOpen, 0)?.subcode).toBe(HeaderSubcode.BadMessageLength);
  });
});

describe("OPEN and capabilities", () => {
  const open: OpenRepr = {
    version: 4,
    myAs: AS_TRANS,
    holdTime: 90,
    bgpId: 0xc6120001,
    capabilities: [
      { kind: "multiprotocol", afi: 1, safi: 1 },
      { kind: "multiprotocol", afi: 2, safi: 1 },
      { kind: "route-refresh" },
      { kind: "four-octet-as", asn: 4200000001 },
      { kind: "other", code: 64, value: hex("0078") },
    ],
  };

  it("encodes the bytes RFC 4271/5492 lay out and parses them back", () => {
    const b = encodeOpen({ ...open, capabilities: open.capabilities.slice(0, 1) });
    expect(b).toEqual(
      hex(
        "ffffffffffffffffffffffffffffffff 0025 01 04 5ba0 005a c6120001 08 02 06 01 04 0001 00 01",
      ),
    );
    const r = parseOpen(encodeOpen(open), 0, encodeOpen(open).length);
    expect(r).toEqual({ ok: true, repr: open });
  });

  it("round-trips any OPEN, with the extended parameter length when needed (RFC 9072)", () => {
    fc.assert(
      fc.property(
        u16,
        u16,
        u32,
        fc.array(
          fc.record({
            code: fc.integer({ min: 128, max: 255 }),
            value: fc.uint8Array({ maxLength: 60 }),
          }),
          { maxLength: 8 },
        ),
        (myAs, holdTime, bgpId, others) => {
          const repr: OpenRepr = {
            version: 4,
            myAs,
            holdTime,
            bgpId,
            capabilities: others.map((o) => ({ kind: "other" as const, ...o })),
          };
          const b = encodeOpen(repr);
          expect(parseOpen(b, 0, b.length)).toEqual({ ok: true, repr });
        },
      ),
    );
  });

  it("refuses a version other than 4, unknown parameters and malformed capabilities", () => {
    const b = encodeOpen(open);
    const v3 = b.slice();
    v3[19] = 3;
    expect(parseOpen(v3, 0, v3.length)).toEqual({
      ok: false,
      error: {
        code: ErrorCode.OpenMessage,
        subcode: OpenSubcode.UnsupportedVersionNumber,
        data: hex("0004"),
      },
    });
    const param = b.slice();
    param[29] = 1; // authentication (deprecated)
    expect(parseOpen(param, 0, param.length)).toMatchObject({
      ok: false,
      error: { subcode: OpenSubcode.UnsupportedOptionalParameter },
    });
    const mp = encodeOpen({
      ...open,
      capabilities: [{ kind: "other", code: 1, value: hex("000100") }],
    });
    expect(parseOpen(mp, 0, mp.length)).toMatchObject({
      ok: false,
      error: { subcode: OpenSubcode.Unspecific },
    });
    const cut = b.slice(0, b.length - 1);
    cut[17] = cut.length;
    expect(parseOpen(cut, 0, cut.length)).toMatchObject({
      ok: false,
      error: { subcode: OpenSubcode.Unspecific },
    });
    expect(parseCapabilities(hex("4104000000"), 0, 5)).toEqual({ ok: false, at: 0 });
  });
});

describe("NOTIFICATION, ROUTE-REFRESH", () => {
  it("round-trips NOTIFICATIONs and shutdown communications (RFC 9003)", () => {
    const e = ceaseError(CeaseSubcode.AdministrativeShutdown, "maintenance — back soon");
    const b = encodeNotification(e);
    expect(b[18]).toBe(MessageType.Notification);
    const back = parseNotification(b, 0, b.length);
    expect(back).toEqual(e);
    expect(shutdownCommunication(back)).toBe("maintenance — back soon");
    expect(
      shutdownCommunication(ceaseError(CeaseSubcode.AdministrativeShutdown, "x".repeat(300))),
    ).toHaveLength(255);
    expect(shutdownCommunication({ code: 6, subcode: 2, data: hex("05ff") })).toBeUndefined();
  });

  it("round-trips ROUTE-REFRESH and answers a wrong length (RFC 7313)", () => {
    const b = encodeRouteRefresh({ afi: 2, safi: 1, subtype: 0 });
    expect(b).toEqual(hex("ffffffffffffffffffffffffffffffff 0017 05 0002 00 01"));
    expect(parseRouteRefresh(b, 0, b.length)).toEqual({
      ok: true,
      repr: { afi: 2, safi: 1, subtype: 0 },
    });
    const long = new Uint8Array(24);
    long.set(b);
    long[17] = 24;
    expect(parseRouteRefresh(long, 0, 24)).toEqual({
      ok: false,
      error: {
        code: ErrorCode.RouteRefreshMessage,
        subcode: RouteRefreshSubcode.InvalidMessageLength,
        data: long,
      },
    });
  });
});

describe("AS paths", () => {
  const path = asPathFromSegments([
    { type: SegmentType.AsSequence, asns: [65001, 65002] },
    { type: SegmentType.AsSet, asns: [65003, 65004] },
  ]);
  it("counts a set as one and prints sets in braces", () => {
    expect(asPathLength(path)).toBe(3);
    expect(asPathText(path)).toBe("65001 65002 {65003,65004}");
    expect(asPathOrigin(path)).toBeUndefined();
    expect(asPathOrigin(asPathFromSegments([{ type: 2, asns: [1, 2, 3] }]))).toBe(3);
  });
  it("prepends into the leading sequence, overflowing into a new segment past 255", () => {
    expect(asPathText(asPathPrepend(path, 65000, 2))).toBe("65000 65000 65001 65002 {65003,65004}");
    expect(asPathText(asPathPrepend(asPathFromSegments([{ type: 1, asns: [5] }]), 7))).toBe(
      "7 {5}",
    );
    const long = asPathPrepend(
      asPathFromSegments([{ type: 2, asns: new Array(255).fill(9) }]),
      1,
      2,
    );
    expect(long[0]).toBe(2);
    expect(long[1]).toBe(2);
    expect(asPathLength(long)).toBe(257);
  });
  it("merges AS4_PATH into a 2-octet AS_PATH (RFC 6793 4.2.3)", () => {
    const two = asPathFromSegments([{ type: 2, asns: [65001, AS_TRANS, AS_TRANS, 65005] }]);
    const four = asPathFromSegments([{ type: 2, asns: [4200000002, 4200000003, 65005] }]);
    expect(asPathText(mergeAs4Path(two, four))).toBe("65001 4200000002 4200000003 65005");
    // An AS4_PATH longer than the AS_PATH is ignored.
    expect(asPathText(mergeAs4Path(asPathFromSegments([{ type: 2, asns: [1] }]), four))).toBe("1");
  });
});

function roundTrip(repr: UpdateRepr, as4 = true) {
  const b = encodeUpdate2(repr, as4);
  const { parsed, repr: back } = decodeUpdate(b, 0, b.length, { ...CTX, as4 });
  expect(parsed.problems).toEqual([]);
  return back;
}

function encodeUpdate2(repr: UpdateRepr, as4: boolean) {
  return encodeUpdate(repr, { as4 });
}

describe("UPDATE", () => {
  it("round-trips IPv4 UPDATEs with every attribute (property)", () => {
    fc.assert(
      fc.property(
        attributes(4),
        fc.array(prefix4, { maxLength: 20 }),
        fc.array(prefix4, { maxLength: 20 }),
        (attrs, nlri, withdrawn) => {
          const repr: UpdateRepr = {
            withdrawn,
            attributes: attrs,
            nlri: nlri.length > 0 ? nlri : [prefix4Of("198.18.0.0", 15)],
          };
          const back = roundTrip(repr);
          expect(back.withdrawn ?? []).toEqual(withdrawn);
          expect(back.nlri).toEqual(repr.nlri);
          expect(back.attributes).toEqual(attrs);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("round-trips IPv6 in MP_REACH/MP_UNREACH, with a link-local next hop (RFC 4760, RFC 2545)", () => {
    fc.assert(
      fc.property(
        attributes(6),
        fc.array(prefix6, { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        (attrs, nlri, ll) => {
          const { nextHop, ...base } = attrs;
          const mpReach: UpdateRepr["mpReach"] = { family: 6, nextHop: nextHop!, nlri };
          if (ll) mpReach.linkLocal = Uint32Array.of(0xfe800000, 0, 0, 1);
          const back = roundTrip({ attributes: base as PathAttributes, mpReach });
          expect(back.mpReach).toEqual(mpReach);
          expect(back.attributes).toEqual(base);
          const w = roundTrip({ mpUnreach: { family: 6, nlri } });
          expect(w.mpUnreach).toEqual({ family: 6, nlri });
        },
      ),
      { numRuns: 200 },
    );
  });

  it("talks to a 2-octet speaker with AS_TRANS, AS4_PATH and AS4_AGGREGATOR (RFC 6793)", () => {
    fc.assert(
      fc.property(attributes(4), (a) => {
        // An AGGREGATOR with a 2-octet AS makes the receiver ignore AS4_PATH (RFC 6793 4.2.3): keep 4-octet ones.
        const attrs =
          a.aggregator && a.aggregator.asn <= 0xffff
            ? {
                ...a,
                aggregator: { asn: a.aggregator.asn + 0x10000, address: a.aggregator.address },
              }
            : a;
        const repr: UpdateRepr = { attributes: attrs, nlri: [prefix4Of("198.18.0.0", 16)] };
        const b = encodeUpdate(repr, { as4: false });
        const { parsed, repr: back } = decodeUpdate(b, 0, b.length, {
          ...CTX,
          as4: false,
          enforceFirstAs: false,
        });
        expect(parsed.action).toBe(UpdateAction.None);
        // Adjacent sequences may come back joined: the same path.
        expect(asPathText(back.attributes!.asPath)).toBe(asPathText(attrs.asPath));
        expect(back.attributes!.aggregator).toEqual(attrs.aggregator);
      }),
      { numRuns: 200 },
    );
    const wide = {
      origin: 0,
      asPath: asPathFromSegments([{ type: 2, asns: [65002, 4200000001] }]),
      atomicAggregate: false,
      nextHop: Uint32Array.of(0xc6120002),
    };
    const attrs = encodeAttributes(wide, { as4: false, family: 4 });
    // AS_PATH 2 octets per AS with AS_TRANS, then AS4_PATH with the real numbers.
    expect(Buffer.from(attrs).toString("hex")).toContain("4002060202fdea5ba0");
    expect(Buffer.from(attrs).toString("hex")).toContain(
      `c0110a0202 0000fdea fa56ea01`.replace(/ /g, ""),
    );
  });

  it("marks End-of-RIB for both families (RFC 4724)", () => {
    for (const f of [4, 6] as const) {
      const b = encodeEndOfRib(f);
      expect(endOfRibFamily(parseUpdate(b, 0, b.length, CTX), b.length)).toBe(f);
    }
  });

  it("packs prefixes sharing attributes into messages of at most 4096 octets", () => {
    const packer = new UpdatePacker();
    const attrs = encodeAttributes(
      {
        origin: 0,
        asPath: Uint32Array.of(2, 1, 65001),
        atomicAggregate: false,
        nextHop: Uint32Array.of(0xc6120001),
      },
      { as4: true, family: 4 },
    );
    const msgs: Uint8Array[] = [];
    packer.beginAnnounce(4, attrs);
    for (let i = 0; i < 2000; i++) {
      if (!packer.add4((0xc6000000 + i * 256) >>> 0, 24)) {
        msgs.push(packer.finish());
        packer.beginAnnounce(4, attrs);
        packer.add4((0xc6000000 + i * 256) >>> 0, 24);
      }
    }
    msgs.push(packer.finish());
    let total = 0;
    for (const m of msgs) {
      expect(m.length).toBeLessThanOrEqual(4096);
      const p = parseUpdate(m, 0, m.length, { ...CTX, enforceFirstAs: false });
      expect(p.action).toBe(UpdateAction.None);
      total += p.nlriCount;
    }
    expect(total).toBe(2000);
    expect(msgs.length).toBe(Math.ceil(2000 / Math.floor((4096 - 23 - attrs.length) / 4)));
    // IPv6 withdrawals in MP_UNREACH.
    packer.beginWithdraw(6);
    packer.add6(Uint32Array.of(0x20010db8, 0, 0, 0), 0, 32);
    const w = packer.finish();
    const d = decodeUpdate(w, 0, w.length, CTX);
    expect(d.repr.mpUnreach?.nlri.map((p) => p.length)).toEqual([32]);
  });
});

describe("framing", () => {
  const msgs = [
    encodeKeepalive(),
    encodeRouteRefresh({ afi: 1, safi: 1, subtype: 0 }),
    encodeUpdate({
      nlri: [prefix4Of("198.18.0.0", 16)],
      attributes: {
        origin: 0,
        asPath: Uint32Array.of(2, 1, 65002),
        atomicAggregate: false,
        nextHop: Uint32Array.of(0xc6120002),
      },
    }),
    encodeNotification(ceaseError(CeaseSubcode.AdministrativeReset, "bye")),
  ];
  const stream = new Uint8Array(msgs.reduce((n, m) => n + m.length, 0));
  let at = 0;
  for (const m of msgs) {
    stream.set(m, at);
    at += m.length;
  }

  it("gives the same messages for a stream split at every offset (and twice)", () => {
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j += 7) {
        const f = new MessageFramer();
        const got: Uint8Array[] = [];
        const sink = (b: Uint8Array, o: number, l: number) => {
          got.push(b.slice(o, o + l));
          return true;
        };
        f.push(stream.subarray(0, i), sink);
        f.push(stream.subarray(i, j), sink);
        f.push(stream.subarray(j), sink);
        expect(got).toEqual(msgs);
        expect(f.pending).toBe(0);
      }
    }
  });

  it("gives the same messages for any chunking (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 40 }), (sizes) => {
        const f = new MessageFramer();
        const got: Uint8Array[] = [];
        let off = 0;
        for (const s of [...sizes, stream.length]) {
          f.push(stream.subarray(off, Math.min(stream.length, off + s)), (b, o, l) => {
            got.push(b.slice(o, o + l));
            return true;
          });
          off = Math.min(stream.length, off + s);
        }
        expect(got).toEqual(msgs);
      }),
    );
  });

  it("stops at a header error, and when the sink says so", () => {
    const bad = stream.slice();
    bad[msgs[0].length + 2] = 0;
    const f = new MessageFramer();
    let n = 0;
    const err = f.push(bad, () => ++n > 0);
    expect(n).toBe(1);
    expect(err?.subcode).toBe(HeaderSubcode.ConnectionNotSynchronized);
    expect(f.push(stream, () => ++n > 0)).toBe(err);
    const g = new MessageFramer();
    let m = 0;
    g.push(stream, () => ++m < 2);
    expect(m).toBe(2);
  });
});
