/**
 * RFC 7606 revised error handling: every case of the RFC (and of RFC 4271
 * 6.3, RFC 4760 7, RFC 6793 6, RFC 8092 6) with the action it calls for and
 * the NOTIFICATION a session reset sends; then the same through a session.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, UpdateSubcode } from "../../../router/bgp/errors.ts";
import { encodeOpen } from "../../../router/bgp/wire/open.ts";
import {
  encodeUpdate,
  parseUpdate,
  UpdateAction,
  type UpdateContext,
} from "../../../router/bgp/wire/update.ts";
import { CTX, hex } from "./fixtures.ts";
import { addr, MemoryNet, node, RawPeer, run, stateOf } from "./harness.ts";

const IBGP: UpdateContext = { ...CTX, ebgp: false, peerAs: 65001 };

function attr(flags: number, type: number, value: string): Uint8Array {
  const v = hex(value);
  if (flags & 0x10) return Uint8Array.from([flags, type, v.length >> 8, v.length & 255, ...v]);
  return Uint8Array.from([flags, type, v.length, ...v]);
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An UPDATE from its three fields (lengths computed unless given). */
function update(
  withdrawn: string,
  attrs: Uint8Array,
  nlri: string,
  lens?: { w?: number; tal?: number },
): Uint8Array {
  const w = hex(withdrawn);
  const n = hex(nlri);
  const len = 23 + w.length + attrs.length + n.length;
  const b = new Uint8Array(len);
  b.fill(0xff, 0, 16);
  b[16] = len >> 8;
  b[17] = len & 255;
  b[18] = 2;
  const wl = lens?.w ?? w.length;
  b[19] = wl >> 8;
  b[20] = wl & 255;
  b.set(w, 21);
  const tal = lens?.tal ?? attrs.length;
  b[21 + w.length] = tal >> 8;
  b[22 + w.length] = tal & 255;
  b.set(attrs, 23 + w.length);
  b.set(n, 23 + w.length + attrs.length);
  return b;
}

const ORIGIN = attr(0x40, 1, "00");
const PATH = attr(0x40, 2, "0201 0000fdea");
const NH = attr(0x40, 3, "c6120002");
const GOOD = cat(ORIGIN, PATH, NH);
const NLRI = "10c612"; // 198.18.0.0/16

function parse(b: Uint8Array, ctx: UpdateContext = CTX) {
  return parseUpdate(b, 0, b.length, ctx);
}

interface Case {
  name: string;
  msg: Uint8Array;
  ctx?: UpdateContext;
  action: UpdateAction;
  subcode?: number;
  data?: Uint8Array;
}

const {
  None,
  AttributeDiscard: Discard,
  TreatAsWithdraw: Withdraw,
  AfiSafiDisable: Disable,
  SessionReset: Reset,
} = UpdateAction;
const S = UpdateSubcode;
const MP6 = (value: string, flags = 0x80) => attr(flags, 14, value);
const MP6_OK = "0002 01 10 20010db8000000000000000000000002 00 20 20010db8";

const cases: Case[] = [
  { name: "well-formed", msg: update("", GOOD, NLRI), action: None },
  {
    name: "3(b) withdrawn length beyond the message",
    msg: update("", GOOD, NLRI, { w: 200 }),
    action: Reset,
    subcode: S.MalformedAttributeList,
  },
  {
    name: "3(b) attribute length beyond the message",
    msg: update("", GOOD, NLRI, { tal: 200 }),
    action: Reset,
    subcode: S.MalformedAttributeList,
  },
  {
    name: "5.3 NLRI prefix longer than 32",
    msg: update("", GOOD, "21c6120000ff"),
    action: Reset,
    subcode: S.InvalidNetworkField,
  },
  {
    name: "5.3 NLRI prefix overrunning the message",
    msg: update("", GOOD, "18c612"),
    action: Reset,
    subcode: S.InvalidNetworkField,
  },
  {
    name: "5.3 withdrawn prefix overrunning its field",
    msg: update("18c6", GOOD, NLRI),
    action: Reset,
    subcode: S.InvalidNetworkField,
  },
  {
    name: "4 last attribute overrunning the attribute field",
    msg: update("", cat(ORIGIN, PATH, Uint8Array.of(0x40, 3, 9, 0xc6, 0x12, 0, 2)), NLRI),
    action: Withdraw,
  },
  {
    name: "4 fewer than 3 octets left",
    msg: update("", cat(GOOD, Uint8Array.of(0x40, 8)), NLRI),
    action: Withdraw,
  },
  {
    name: "4 fewer than 4 octets left with extended length",
    msg: update("", cat(GOOD, Uint8Array.of(0x50, 8, 0)), NLRI),
    action: Withdraw,
  },
  {
    name: "3(c) ORIGIN with the optional bit",
    msg: update("", cat(attr(0xc0, 1, "00"), PATH, NH), NLRI),
    action: Withdraw,
    subcode: S.AttributeFlagsError,
    data: hex("c0010100"),
  },
  {
    name: "7.1 ORIGIN of 2 octets",
    msg: update("", cat(attr(0x40, 1, "0000"), PATH, NH), NLRI),
    action: Withdraw,
    subcode: S.AttributeLengthError,
  },
  {
    name: "7.1 ORIGIN undefined value",
    msg: update("", cat(attr(0x40, 1, "03"), PATH, NH), NLRI),
    action: Withdraw,
    subcode: S.InvalidOriginAttribute,
    data: hex("40010103"),
  },
  {
    name: "7.2 AS_PATH segment of length 0",
    msg: update("", cat(ORIGIN, attr(0x40, 2, "0200"), NH), NLRI),
    action: Withdraw,
    subcode: S.MalformedAsPath,
  },
  {
    name: "7.2 AS_PATH segment overrun",
    msg: update("", cat(ORIGIN, attr(0x40, 2, "0202 0000fdea"), NH), NLRI),
    action: Withdraw,
    subcode: S.MalformedAsPath,
  },
  {
    name: "7.2 AS_PATH one octet left",
    msg: update("", cat(ORIGIN, attr(0x40, 2, "0201 0000fdea 02"), NH), NLRI),
    action: Withdraw,
    subcode: S.MalformedAsPath,
  },
  {
    name: "7.2 AS_PATH unknown segment type",
    msg: update("", cat(ORIGIN, attr(0x40, 2, "0501 0000fdea"), NH), NLRI),
    action: Withdraw,
    subcode: S.MalformedAsPath,
  },
  {
    name: "RFC 5065: confederation segment outside a confederation",
    msg: update("", cat(ORIGIN, attr(0x40, 2, "0301 0000fdea 0201 0000fdea"), NH), NLRI),
    action: Withdraw,
    subcode: S.MalformedAsPath,
  },
  {
    name: "7.2 leftmost AS not the eBGP peer's",
    msg: update("", cat(ORIGIN, attr(0x40, 2, "0201 0000fde9"), NH), NLRI),
    action: Withdraw,
    subcode: S.MalformedAsPath,
  },
  {
    name: "3(d) missing ORIGIN",
    msg: update("", cat(PATH, NH), NLRI),
    action: Withdraw,
    subcode: S.MissingWellKnownAttribute,
    data: Uint8Array.of(1),
  },
  {
    name: "3(d) missing AS_PATH",
    msg: update("", cat(ORIGIN, NH), NLRI),
    action: Withdraw,
    subcode: S.MissingWellKnownAttribute,
    data: Uint8Array.of(2),
  },
  {
    name: "3(d) missing NEXT_HOP with NLRI",
    msg: update("", cat(ORIGIN, PATH), NLRI),
    action: Withdraw,
    subcode: S.MissingWellKnownAttribute,
    data: Uint8Array.of(3),
  },
  {
    name: "RFC 4760: no NEXT_HOP needed with MP_REACH only",
    msg: update("", cat(MP6(MP6_OK), ORIGIN, PATH), ""),
    action: None,
  },
  {
    name: "7.3 NEXT_HOP of 5 octets",
    msg: update("", cat(ORIGIN, PATH, attr(0x40, 3, "c612000201")), NLRI),
    action: Withdraw,
    subcode: S.AttributeLengthError,
  },
  {
    name: "7.3 NEXT_HOP multicast",
    msg: update("", cat(ORIGIN, PATH, attr(0x40, 3, "e0000001")), NLRI),
    action: Withdraw,
    subcode: S.InvalidNextHopAttribute,
    data: hex("400304e0000001"),
  },
  {
    name: "7.4 MULTI_EXIT_DISC of 3 octets",
    msg: update("", cat(GOOD, attr(0x80, 4, "000001")), NLRI),
    action: Withdraw,
    subcode: S.AttributeLengthError,
  },
  {
    name: "7.5 LOCAL_PREF from an external peer",
    msg: update("", cat(GOOD, attr(0x40, 5, "00000064")), NLRI),
    action: Discard,
  },
  {
    name: "7.5 LOCAL_PREF of 3 octets from an internal peer",
    msg: update("", cat(GOOD, attr(0x40, 5, "000064")), NLRI),
    ctx: IBGP,
    action: Withdraw,
  },
  {
    name: "7.6 ATOMIC_AGGREGATE of 1 octet",
    msg: update("", cat(GOOD, attr(0x40, 6, "00")), NLRI),
    action: Discard,
  },
  {
    name: "7.7 AGGREGATOR of 7 octets (4-octet session)",
    msg: update("", cat(GOOD, attr(0xc0, 7, "0000fdeac61200")), NLRI),
    action: Discard,
  },
  {
    name: "7.7 AGGREGATOR of 8 octets from a 2-octet session",
    msg: update(
      "",
      cat(ORIGIN, attr(0x40, 2, "0201 fdea"), NH, attr(0xc0, 7, "0000fdeac6120002")),
      NLRI,
    ),
    ctx: { ...CTX, as4: false },
    action: Discard,
  },
  {
    name: "RFC 7607: AGGREGATOR with AS 0",
    msg: update("", cat(GOOD, attr(0xc0, 7, "00000000c6120002")), NLRI),
    action: Discard,
  },
  {
    name: "7.8 COMMUNITIES of 5 octets",
    msg: update("", cat(GOOD, attr(0xc0, 8, "0000000100")), NLRI),
    action: Withdraw,
    subcode: S.OptionalAttributeError,
  },
  {
    name: "7.8 COMMUNITIES empty",
    msg: update("", cat(GOOD, attr(0xc0, 8, "")), NLRI),
    action: Withdraw,
  },
  {
    name: "7.9 ORIGINATOR_ID from an external peer",
    msg: update("", cat(GOOD, attr(0x80, 9, "01020304")), NLRI),
    action: Discard,
  },
  {
    name: "7.9 ORIGINATOR_ID of 3 octets from an internal peer",
    msg: update("", cat(GOOD, attr(0x80, 9, "010203")), NLRI),
    ctx: IBGP,
    action: Withdraw,
  },
  {
    name: "7.10 CLUSTER_LIST of 6 octets from an internal peer",
    msg: update("", cat(GOOD, attr(0x80, 10, "010203040506")), NLRI),
    ctx: IBGP,
    action: Withdraw,
  },
  {
    name: "7.14 EXTENDED COMMUNITIES of 7 octets",
    msg: update("", cat(GOOD, attr(0xc0, 16, "00020000000001")), NLRI),
    action: Withdraw,
  },
  {
    name: "RFC 8092: LARGE_COMMUNITIES of 13 octets",
    msg: update("", cat(GOOD, attr(0xc0, 32, "00000001000000020000000300")), NLRI),
    action: Withdraw,
  },
  {
    name: "3(g) a repeated attribute: the repeat discarded",
    msg: update("", cat(GOOD, attr(0x40, 1, "02")), NLRI),
    action: Discard,
  },
  {
    name: "3(g) MP_REACH_NLRI twice",
    msg: update("", cat(MP6(MP6_OK), MP6(MP6_OK), ORIGIN, PATH), ""),
    action: Reset,
    subcode: S.MalformedAttributeList,
  },
  {
    name: "3(g) MP_UNREACH_NLRI twice",
    msg: update("", cat(attr(0x80, 15, "000201"), attr(0x80, 15, "000201")), ""),
    action: Reset,
    subcode: S.MalformedAttributeList,
  },
  {
    name: "5.3 MP_REACH_NLRI with the transitive bit",
    msg: update("", cat(MP6(MP6_OK, 0xc0), ORIGIN, PATH), ""),
    action: Reset,
    subcode: S.OptionalAttributeError,
  },
  {
    name: "7.11 MP_REACH_NLRI shorter than 5",
    msg: update("", cat(MP6("00020110"), ORIGIN, PATH), ""),
    action: Reset,
    subcode: S.OptionalAttributeError,
  },
  {
    name: "7.11 MP_REACH_NLRI next hop of 8 octets for IPv6",
    msg: update("", cat(MP6("0002 01 08 20010db800000000 00 20 20010db8"), ORIGIN, PATH), ""),
    action: Reset,
    subcode: S.OptionalAttributeError,
  },
  {
    name: "7.11 MP_REACH_NLRI prefix longer than 128",
    msg: update(
      "",
      cat(MP6("0002 01 10 20010db8000000000000000000000002 00 81 20010db8"), ORIGIN, PATH),
      "",
    ),
    action: Reset,
    subcode: S.OptionalAttributeError,
  },
  {
    name: "7.11 MP_REACH_NLRI prefix overrun",
    msg: update(
      "",
      cat(MP6("0002 01 10 20010db8000000000000000000000002 00 30 20010db8"), ORIGIN, PATH),
      "",
    ),
    action: Reset,
  },
  {
    name: "7.11 MP_REACH_NLRI error with AFI/SAFI disable allowed",
    msg: update("", cat(MP6("0002 01 08 20010db800000000 00 20 20010db8"), ORIGIN, PATH), ""),
    ctx: { ...CTX, mpErrorDisables: true },
    action: Disable,
    subcode: S.OptionalAttributeError,
  },
  {
    name: "7.11 MP_UNREACH_NLRI shorter than 3",
    msg: update("", attr(0x80, 15, "0002"), ""),
    action: Reset,
    subcode: S.OptionalAttributeError,
  },
  {
    name: "RFC 4760: MP_REACH_NLRI of an AFI/SAFI not carried is ignored",
    msg: update(
      "",
      cat(MP6("0002 80 10 20010db8000000000000000000000002 00 00"), ORIGIN, PATH),
      "",
    ),
    action: None,
  },
  {
    name: "RFC 4271 6.3: unrecognized well-known attribute",
    msg: update("", cat(GOOD, attr(0x40, 99, "0102")), NLRI),
    action: Reset,
    subcode: S.UnrecognizedWellKnownAttribute,
    data: hex("40630201 02"),
  },
  {
    name: "5.2 attributes, an error, and no NLRI",
    msg: update("", cat(attr(0x40, 1, "07"), PATH), ""),
    action: Reset,
    subcode: S.InvalidOriginAttribute,
  },
  {
    name: "5.2 only attribute discard without NLRI stays a discard",
    msg: update("", cat(GOOD, attr(0x40, 6, "00")), ""),
    action: Discard,
  },
  {
    name: "RFC 6793: AS4_PATH from a 4-octet speaker discarded",
    msg: update("", cat(GOOD, attr(0xc0, 17, "0201 0000fdea")), NLRI),
    action: Discard,
  },
  {
    name: "RFC 6793 6: malformed AS4_PATH discarded",
    msg: update("", cat(ORIGIN, attr(0x40, 2, "0201 fdea"), NH, attr(0xc0, 17, "0200")), NLRI),
    ctx: { ...CTX, as4: false },
    action: Discard,
  },
  {
    name: "RFC 6793 6: AS4_AGGREGATOR of 6 octets discarded",
    msg: update(
      "",
      cat(ORIGIN, attr(0x40, 2, "0201 fdea"), NH, attr(0xc0, 18, "fdeac6120002")),
      NLRI,
    ),
    ctx: { ...CTX, as4: false },
    action: Discard,
  },
  {
    name: "3(h) discard and withdraw: withdraw",
    msg: update("", cat(GOOD, attr(0x40, 6, "00"), attr(0x80, 4, "00")), NLRI),
    action: Withdraw,
  },
  {
    name: "3(h) withdraw and reset: reset",
    msg: update("", cat(GOOD, attr(0x80, 4, "00"), attr(0x40, 98, "")), NLRI),
    action: Reset,
    subcode: S.UnrecognizedWellKnownAttribute,
  },
  {
    name: "extended length on a short attribute is fine",
    msg: update("", cat(attr(0x50, 1, "00"), PATH, NH), NLRI),
    action: None,
  },
];

describe("RFC 7606 actions, case by case", () => {
  for (const c of cases) {
    it(c.name, () => {
      const p = parse(c.msg, c.ctx);
      expect(p.action).toBe(c.action);
      if (c.subcode !== undefined) expect(p.error?.subcode).toBe(c.subcode);
      if (c.data !== undefined) expect(p.error?.data).toEqual(c.data);
      if (c.action !== None) expect(p.error?.code).toBe(ErrorCode.UpdateMessage);
    });
  }

  it("keeps unknown optional transitive attributes and drops non-transitive ones", () => {
    const p = parse(update("", cat(GOOD, attr(0xc0, 99, "abcd"), attr(0x80, 98, "ef")), NLRI));
    expect(p.action).toBe(None);
    expect(p.attrs?.unknown).toEqual([{ flags: 0xc0, type: 99, value: hex("abcd") }]);
    const re = encodeUpdate({
      attributes: { ...p.attrs!, nextHop: Uint32Array.of(p.nextHop4!) },
      nlri: [],
    });
    // Passed on with the Partial bit set (RFC 4271 section 5).
    expect(Buffer.from(re).toString("hex")).toContain("e06302abcd");
  });

  it("removes repeated large communities (RFC 8092 section 6)", () => {
    const p = parse(
      update(
        "",
        cat(GOOD, attr(0xc0, 32, "000000010000000200000003 000000010000000200000003")),
        NLRI,
      ),
    );
    expect(p.action).toBe(None);
    expect(Array.from(p.attrs!.largeCommunities!)).toEqual([1, 2, 3]);
  });
});

/** A speaker with one eBGP neighbour played by a RawPeer. */
function withRawPeer(neighbor: object = {}) {
  const net = new MemoryNet();
  const peerAddr = addr("198.18.0.2");
  const peer = new RawPeer(net, "peer", peerAddr, () =>
    encodeOpen({
      version: 4,
      myAs: 65002,
      holdTime: 30,
      bgpId: peerAddr[0],
      capabilities: [
        { kind: "multiprotocol", afi: 1, safi: 1 },
        { kind: "multiprotocol", afi: 2, safi: 1 },
        { kind: "four-octet-as", asn: 65002 },
        { kind: "route-refresh" },
      ],
    }),
  );
  const vr = node(net, "vr", ["198.18.0.1", "2001:db8::1"], {
    asn: 65001,
    idleHoldTime: 1,
    neighbors: [{ address: "198.18.0.2", asn: 65002, import: "accept", ...neighbor }],
  });
  vr.speaker.start(0);
  run(net, [vr], 100);
  expect(stateOf(vr, "198.18.0.2")).toBe("Established");
  return { net, peer, vr };
}

describe("RFC 7606 through a session", () => {
  it("treat-as-withdraw removes the route and keeps the session", () => {
    const { net, peer, vr } = withRawPeer();
    peer.send(update("", GOOD, NLRI));
    run(net, [vr], 200);
    expect(vr.router.installed.get("198.18.0.0/16")).toEqual({
      nextHop: "198.18.0.2",
      distance: 20,
    });
    peer.send(update("", cat(attr(0x40, 1, "05"), PATH, NH), NLRI));
    run(net, [vr], 300);
    expect(vr.router.installed.has("198.18.0.0/16")).toBe(false);
    expect(stateOf(vr, "198.18.0.2")).toBe("Established");
    const st = vr.speaker.neighbors()[0];
    expect(st.treatAsWithdraw).toBe(1);
    expect(st.prefixesAccepted).toBe(0);
    expect(vr.logs.some((l) => l.includes("malformed UPDATE"))).toBe(true);
  });

  it("session reset sends the NOTIFICATION with code, subcode and data, flushes and restarts", () => {
    const { net, peer, vr } = withRawPeer();
    peer.send(update("", GOOD, NLRI));
    run(net, [vr], 200);
    peer.send(update("", cat(GOOD, attr(0x40, 99, "0102")), NLRI));
    run(net, [vr], 300);
    const notes = peer.ofType(3);
    expect(notes).toHaveLength(1);
    expect(Array.from(notes[0].subarray(19))).toEqual([3, 2, 0x40, 99, 2, 1, 2]);
    expect(vr.router.installed.size).toBe(0);
    expect(vr.speaker.neighbors()[0].lastError).toMatchObject({
      direction: "sent",
      code: 3,
      subcode: 2,
    });
    // Automatic restart after the idle hold time.
    run(net, [vr], 5000);
    expect(stateOf(vr, "198.18.0.2")).toBe("Established");
  });

  it("AFI/SAFI disable drops that family's routes and ignores more of them (RFC 4760 section 7)", () => {
    const { net, peer, vr } = withRawPeer({ mpErrors: "disable" });
    peer.send(update("", cat(MP6(MP6_OK), ORIGIN, PATH), ""));
    peer.send(update("", GOOD, NLRI));
    run(net, [vr], 200);
    expect(vr.router.installed.has("2001:db8::/32")).toBe(true);
    peer.send(update("", cat(MP6("0002 01 08 20010db800000000 00 20 20010db8"), ORIGIN, PATH), ""));
    run(net, [vr], 300);
    expect(vr.router.installed.has("2001:db8::/32")).toBe(false);
    peer.send(update("", cat(MP6(MP6_OK), ORIGIN, PATH), ""));
    run(net, [vr], 400);
    expect(vr.router.installed.has("2001:db8::/32")).toBe(false);
    expect(vr.router.installed.has("198.18.0.0/16")).toBe(true);
    expect(stateOf(vr, "198.18.0.2")).toBe("Established");
    expect(peer.ofType(3)).toHaveLength(0);
  });
});
