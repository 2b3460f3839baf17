/** Two (or three) speakers over the in-memory transport: sessions, routes, withdrawals, refresh, errors. */
import { describe, expect, it } from "vitest";
import { parseBgpConfig } from "../../../router/bgp/config.ts";
import { asPathText } from "../../../router/bgp/wire/attributes.ts";
import { AS_TRANS, encodeOpen } from "../../../router/bgp/wire/open.ts";
import { decodeUpdate } from "../../../router/bgp/wire/update.ts";
import { expectConsistent } from "./check.ts";
import { addr, MemoryNet, node, RawPeer, run, stateOf } from "./harness.ts";

const accept = { policies: { all: { default: "accept" } } } as const;

function pair(
  opts: { aExtra?: object; bExtra?: object; aNeighbor?: object; bNeighbor?: object } = {},
) {
  const net = new MemoryNet();
  const a = node(net, "a", ["198.18.0.1", "2001:db8::1"], {
    asn: 65001,
    ...accept,
    neighbors: [
      { address: "198.18.0.2", asn: 65002, import: "all", export: "all", ...opts.aNeighbor },
    ],
    redistribute: [{ source: "connected" }],
    ...opts.aExtra,
  });
  const b = node(net, "b", ["198.18.0.2", "2001:db8::2"], {
    asn: 65002,
    ...accept,
    neighbors: [
      { address: "198.18.0.1", asn: 65001, import: "all", export: "all", ...opts.bNeighbor },
    ],
    redistribute: [{ source: "connected" }],
    ...opts.bExtra,
  });
  return { net, a, b };
}

describe("BGP session end to end", () => {
  it("establishes, exchanges IPv4 and IPv6 routes, withdraws them", () => {
    const { net, a, b } = pair();
    a.router.addLocal("connected", "198.19.1.0/24");
    a.router.addLocal("connected", "2001:db8:100::/48");
    a.speaker.start(0);
    b.speaker.start(0);
    run(net, [a, b], 2000);
    expect(stateOf(a, "198.18.0.2")).toBe("Established");
    expect(stateOf(b, "198.18.0.1")).toBe("Established");
    expect(b.router.installed.get("198.19.1.0/24")).toEqual({
      nextHop: "198.18.0.1",
      distance: 20,
    });
    expect(b.router.installed.get("2001:db8:100::/48")).toEqual({
      nextHop: "2001:db8::1",
      distance: 20,
    });
    const routes = [...b.speaker.routes(4)];
    expect(routes).toHaveLength(1);
    expect(routes[0].asPath).toBe("65001");
    expect(routes[0].origin).toBe("incomplete");
    a.router.local = a.router.local.filter((r) => r.family !== 4);
    a.speaker.localRoutesChanged(net.now);
    run(net, [a, b], 3000);
    expect(b.router.installed.has("198.19.1.0/24")).toBe(false);
    expect(b.router.installed.has("2001:db8:100::/48")).toBe(true);
    const st = b.speaker.neighbors()[0];
    expect(st.families).toEqual(["ipv4", "ipv6"]);
    expect(st.withdrawalsReceived).toBe(1);
    expect(st.endOfRibReceived).toEqual(["ipv4", "ipv6"]);
  });
});

/** A star around B (AS 65002): A and E eBGP, C and D iBGP. */
function star() {
  const net = new MemoryNet();
  const pol = {
    prefixLists: { noexp: [{ prefix: "198.19.3.0/24" }], noadv: [{ prefix: "198.19.4.0/24" }] },
    policies: {
      all: { default: "accept" },
      tag: {
        terms: [
          { match: { prefixList: "noexp" }, set: { communities: { add: ["no-export"] } } },
          { match: { prefixList: "noadv" }, set: { communities: { add: ["no-advertise"] } } },
        ],
        default: "accept",
      },
    },
  };
  const a = node(net, "a", ["198.18.0.1", "2001:db8::1"], {
    asn: 65001,
    ...pol,
    redistribute: [{ source: "connected" }],
    neighbors: [{ address: "198.18.0.2", asn: 65002, import: "all", export: "all" }],
  });
  const b = node(net, "b", ["198.18.0.2", "2001:db8::2"], {
    asn: 65002,
    ...pol,
    neighbors: [
      { address: "198.18.0.1", asn: 65001, import: "tag", export: "all" },
      { address: "198.18.0.3", asn: 65002 },
      { address: "198.18.0.4", asn: 65002 },
      { address: "198.18.0.5", asn: 65005, import: "all", export: "all" },
    ],
  });
  const c = node(net, "c", ["198.18.0.3", "2001:db8::3"], {
    asn: 65002,
    redistribute: [{ source: "static" }],
    neighbors: [{ address: "198.18.0.2", asn: 65002 }],
  });
  const d = node(net, "d", ["198.18.0.4"], {
    asn: 65002,
    neighbors: [{ address: "198.18.0.2", asn: 65002 }],
  });
  const e = node(net, "e", ["198.18.0.5"], {
    asn: 65005,
    ...pol,
    neighbors: [{ address: "198.18.0.2", asn: 65002, import: "all", export: "all" }],
  });
  for (const p of ["198.19.1.0/24", "198.19.3.0/24", "198.19.4.0/24"])
    a.router.addLocal("connected", p);
  c.router.addLocal("static", "198.19.2.0/24");
  const all = [a, b, c, d, e];
  for (const n of all) n.speaker.start(0);
  run(net, all, 2000);
  return { net, a, b, c, d, e, all };
}

describe("eBGP and iBGP rules", () => {
  it("prepends, sets next hops and LOCAL_PREF as RFC 4271 says, and keeps iBGP routes from iBGP peers", () => {
    const { a, b, c, d, e } = star();
    for (const [n, peer] of [
      [b, "198.18.0.1"],
      [c, "198.18.0.2"],
      [e, "198.18.0.2"],
    ] as const) {
      expect(stateOf(n, peer)).toBe("Established");
    }
    // B from A over eBGP: A's AS, A's address, default LOCAL_PREF on B.
    const atB = [...b.speaker.routes(4)].find((r) => r.prefix === "198.19.1.0/24")!;
    expect(atB).toMatchObject({
      asPath: "65001",
      nextHop: "198.18.0.1",
      kind: "ebgp",
      localPref: 100,
    });
    // C from B over iBGP: no prepend, next hop unchanged, LOCAL_PREF carried, distance 200.
    const atC = [...c.speaker.routes(4)].find((r) => r.prefix === "198.19.1.0/24")!;
    expect(atC).toMatchObject({
      asPath: "65001",
      nextHop: "198.18.0.1",
      kind: "ibgp",
      localPref: 100,
    });
    expect(c.router.installed.get("198.19.1.0/24")).toEqual({
      nextHop: "198.18.0.1",
      distance: 200,
    });
    // C's own route, to B over iBGP with next hop self, then to A and E over eBGP with B's AS and address.
    const fromC = [...a.speaker.routes(4)].find((r) => r.prefix === "198.19.2.0/24")!;
    expect(fromC).toMatchObject({ asPath: "65002", nextHop: "198.18.0.2" });
    expect(fromC.localPref).toBe(100); // A's own default; LOCAL_PREF is not sent over eBGP
    const neighborsOfB = b.speaker.neighborRoutes("198.18.0.1", 4, "out");
    for (const r of neighborsOfB) expect(r.localPref).toBeUndefined();
    // D is B's iBGP peer too: it gets A's route, not C's (learned over iBGP).
    const atD = new Set([...d.speaker.routes(4)].map((r) => r.prefix));
    expect(atD.has("198.19.1.0/24")).toBe(true);
    expect(atD.has("198.19.2.0/24")).toBe(false);
    // Nothing goes back where it came from.
    expect([...b.speaker.neighborRoutes("198.18.0.1", 4, "out")].map((r) => r.prefix)).toEqual([
      "198.19.2.0/24",
    ]);
  });

  it("honours NO_EXPORT and NO_ADVERTISE", () => {
    const { b, c, e } = star();
    const atB = new Set([...b.speaker.routes(4)].map((r) => r.prefix));
    expect(atB.has("198.19.3.0/24") && atB.has("198.19.4.0/24")).toBe(true);
    const atC = new Set([...c.speaker.routes(4)].map((r) => r.prefix));
    expect(atC.has("198.19.3.0/24")).toBe(true);
    expect(atC.has("198.19.4.0/24")).toBe(false);
    const atE = new Set([...e.speaker.routes(4)].map((r) => r.prefix));
    expect(atE.has("198.19.1.0/24")).toBe(true);
    expect(atE.has("198.19.3.0/24")).toBe(false);
    expect(atE.has("198.19.4.0/24")).toBe(false);
    expect([...e.speaker.routes(4)].find((r) => r.prefix === "198.19.1.0/24")!.asPath).toBe(
      "65002 65001",
    );
  });

  it("without policies, eBGP imports and exports nothing (RFC 8212); iBGP everything", () => {
    const net = new MemoryNet();
    const a = node(net, "a", ["198.18.0.1"], {
      asn: 65001,
      redistribute: [{ source: "connected" }],
      neighbors: [{ address: "198.18.0.2", asn: 65002 }],
    });
    const b = node(net, "b", ["198.18.0.2"], {
      asn: 65002,
      policies: { all: { default: "accept" } },
      redistribute: [{ source: "connected" }],
      neighbors: [{ address: "198.18.0.1", asn: 65001, export: "all" }],
    });
    a.router.addLocal("connected", "198.19.1.0/24");
    b.router.addLocal("connected", "198.19.2.0/24");
    a.speaker.start(0);
    b.speaker.start(0);
    run(net, [a, b], 2000);
    expect(stateOf(a, "198.18.0.2")).toBe("Established");
    expect(b.speaker.neighbors()[0].prefixesReceived).toBe(0);
    expect(a.speaker.neighbors()[0].prefixesReceived).toBe(1);
    expect(a.speaker.neighbors()[0].prefixesAccepted).toBe(0);
    expect(a.speaker.neighbors()[0].prefixesRejected).toBe(1);
  });
});

describe("sessions over time", () => {
  it("answers a route refresh by sending its Adj-RIB-Out again (RFC 2918)", () => {
    const { net, a, b } = pair();
    a.router.addLocal("connected", "198.19.1.0/24");
    a.speaker.start(0);
    b.speaker.start(0);
    run(net, [a, b], 2000);
    const before = b.speaker.neighbors()[0].prefixesReceived;
    expect(b.speaker.refresh("198.18.0.1", 4)).toBe(true);
    expect(b.speaker.refresh("198.18.0.9", 4)).toBe(false);
    run(net, [a, b], 3000);
    expect(a.speaker.neighbors()[0].messagesIn.routeRefresh).toBe(1);
    expect(b.speaker.neighbors()[0].prefixesReceived).toBe(before + 1);
    expect(b.router.installed.has("198.19.1.0/24")).toBe(true);
  });

  it("expires the hold timer when the peer goes silent, flushes its routes, and comes back", () => {
    const { net, a, b } = pair({
      aExtra: { holdTime: 3, idleHoldTime: 1 },
      bExtra: { holdTime: 3, idleHoldTime: 1 },
    });
    a.router.addLocal("connected", "198.19.1.0/24");
    a.speaker.start(0);
    b.speaker.start(0);
    run(net, [a, b], 2000);
    expect(b.router.installed.has("198.19.1.0/24")).toBe(true);
    const conns = [...net.connections.values()].filter((c) => c.open);
    for (const c of conns) net.cut.add(c.id);
    const removes = b.router.removes;
    run(net, [a, b], 6000);
    expect(b.speaker.neighbors()[0].lastError?.text).toMatch(/hold timer expired/);
    expect(b.router.removes).toBe(removes + 1);
    expect(b.speaker.neighbors()[0].flaps).toBe(1);
    run(net, [a, b], 20_000);
    expect(stateOf(b, "198.18.0.1")).toBe("Established");
    expect(b.router.installed.has("198.19.1.0/24")).toBe(true);
  });

  it("stops with a shutdown communication, refuses while disabled, and restarts", () => {
    const { net, a, b } = pair({ bExtra: { idleHoldTime: 1 } });
    a.router.addLocal("connected", "198.19.1.0/24");
    a.speaker.start(0);
    b.speaker.start(0);
    run(net, [a, b], 2000);
    a.speaker.setNeighborEnabled("198.18.0.2", false, net.now, "maintenance");
    run(net, [a, b], 8000);
    const last = b.speaker.neighbors()[0].lastError!;
    expect(last).toMatchObject({ direction: "received", code: 6 });
    expect(b.router.installed.size).toBe(0);
    expect(stateOf(b, "198.18.0.1")).not.toBe("Established");
    a.speaker.setNeighborEnabled("198.18.0.2", true, net.now);
    run(net, [a, b], 200_000);
    expect(stateOf(b, "198.18.0.1")).toBe("Established");
    expect(b.router.installed.has("198.19.1.0/24")).toBe(true);
    expect(b.speaker.neighbors()[0].establishedCount).toBe(2);
  });

  it("does not use routes whose next hop is unreachable, and re-decides when told", () => {
    const { net, a, b } = pair();
    a.router.addLocal("connected", "198.19.1.0/24");
    b.router.unreachable.add("198.18.0.1");
    a.speaker.start(0);
    b.speaker.start(0);
    run(net, [a, b], 2000);
    expect(b.speaker.neighbors()[0].prefixesAccepted).toBe(1);
    expect(b.router.installed.has("198.19.1.0/24")).toBe(false);
    b.router.unreachable.clear();
    b.speaker.nextHopsChanged(net.now);
    run(net, [a, b], 3000);
    expect(b.router.installed.has("198.19.1.0/24")).toBe(true);
    b.router.unreachable.add("198.18.0.1");
    b.speaker.nextHopsChanged(net.now);
    run(net, [a, b], 4000);
    expect(b.router.installed.has("198.19.1.0/24")).toBe(false);
  });

  it("resets a session past its maximum prefixes (Cease, RFC 4486)", () => {
    const { net, a, b } = pair({ bNeighbor: { maxPrefixes: 2 } });
    for (let i = 0; i < 3; i++) a.router.addLocal("connected", `198.19.${i}.0/24`);
    a.speaker.start(0);
    b.speaker.start(0);
    run(net, [a, b], 2000);
    expect(b.speaker.neighbors()[0].lastError).toMatchObject({ code: 6, subcode: 1 });
    expect(b.router.installed.size).toBe(0);
  });

  it("sends a large table in packed UPDATEs as the connection makes room, then withdraws it", () => {
    const { net, a, b } = pair();
    net.sendBuffer = 8192;
    for (let i = 0; i < 20_000; i++) a.router.addLocal("connected", `10.${i >> 8}.${i & 255}.0/24`);
    a.speaker.start(0);
    b.speaker.start(0);
    run(net, [a, b], 5000);
    expect(b.router.installed.size).toBe(20_000);
    const updates = a.speaker.neighbors()[0].updatesOut;
    expect(updates).toBeLessThan(20_000 / 500);
    a.router.local = [];
    a.speaker.localRoutesChanged(net.now);
    run(net, [a, b], 10_000);
    expect(b.router.installed.size).toBe(0);
    expect(a.speaker.neighbors()[0].updatesOut - updates).toBeLessThan(20_000 / 500);
    expectConsistent(a.speaker);
    expectConsistent(b.speaker);
  });
});

describe("a 4-octet AS speaker and a 2-octet peer (RFC 6793)", () => {
  it("uses AS_TRANS in OPEN and AS4_PATH in UPDATEs", () => {
    const net = new MemoryNet();
    const peerAddr = addr("198.18.0.2");
    const peer = new RawPeer(net, "old", peerAddr, () =>
      encodeOpen({ version: 4, myAs: 65002, holdTime: 90, bgpId: peerAddr[0], capabilities: [] }),
    );
    const vr = node(net, "vr", ["198.18.0.1"], {
      asn: 4200000001,
      redistribute: [{ source: "connected" }],
      neighbors: [{ address: "198.18.0.2", asn: 65002, import: "accept", export: "accept" }],
    });
    vr.router.addLocal("connected", "198.19.1.0/24");
    vr.speaker.start(0);
    run(net, [vr], 1000);
    expect(stateOf(vr, "198.18.0.2")).toBe("Established");
    const open = peer.ofType(1)[0];
    expect((open[20] << 8) | open[21]).toBe(AS_TRANS);
    const upd = peer.ofType(2).find((m) => m.length > 23)!;
    const ctx = {
      as4: false,
      ebgp: true,
      peerAs: AS_TRANS,
      enforceFirstAs: false,
      ipv4: true,
      ipv6: false,
      mpErrorDisables: false,
    };
    const d = decodeUpdate(upd, 0, upd.length, ctx);
    expect(asPathText(d.repr.attributes!.asPath)).toBe("4200000001");
    expect(vr.speaker.neighbors()[0].fourOctetAs).toBe(false);
    expect(vr.speaker.neighbors()[0].families).toEqual(["ipv4"]);
  });
});

describe("policy changes", () => {
  it("re-imports with ROUTE-REFRESH and re-exports only the differences", () => {
    const { net, a, b } = pair();
    a.router.addLocal("connected", "198.19.1.0/24");
    a.router.addLocal("connected", "198.19.2.0/24");
    a.speaker.start(0);
    b.speaker.start(0);
    run(net, [a, b], 2000);
    expect(b.router.installed.size).toBe(2);
    // B stops accepting 198.19.1.0/24.
    const cfgB = parseBgpConfig(
      {
        asn: 65002,
        policies: {
          all: { default: "accept" },
          some: { terms: [{ match: { prefixList: "one" }, action: "reject" }], default: "accept" },
        },
        prefixLists: { one: [{ prefix: "198.19.1.0/24" }] },
        redistribute: [{ source: "connected" }],
        neighbors: [{ address: "198.18.0.1", asn: 65001, import: "some", export: "all" }],
      },
      [addr("198.18.0.2")[0]],
    );
    if (!cfgB.ok) throw new Error(cfgB.errors.join());
    b.speaker.updatePolicies(cfgB.config, net.now);
    run(net, [a, b], 3000);
    // One request per family the session carries.
    expect(a.speaker.neighbors()[0].messagesIn.routeRefresh).toBe(2);
    expect([...b.router.installed.keys()]).toEqual(["198.19.2.0/24"]);
    // A stops exporting 198.19.2.0/24: only that withdrawal goes out.
    const sentBefore = a.speaker.neighbors()[0].updatesOut;
    const cfgA = parseBgpConfig(
      {
        asn: 65001,
        policies: {
          all: { default: "accept" },
          out: { terms: [{ match: { prefixList: "two" }, action: "reject" }], default: "accept" },
        },
        prefixLists: { two: [{ prefix: "198.19.2.0/24" }] },
        redistribute: [{ source: "connected" }],
        neighbors: [{ address: "198.18.0.2", asn: 65002, import: "all", export: "out" }],
      },
      [addr("198.18.0.1")[0]],
    );
    if (!cfgA.ok) throw new Error(cfgA.errors.join());
    a.speaker.updatePolicies(cfgA.config, net.now);
    run(net, [a, b], 4000);
    expect(b.router.installed.size).toBe(0);
    expect(a.speaker.neighbors()[0].updatesOut - sentBefore).toBe(1);
    expect(stateOf(b, "198.18.0.1")).toBe("Established");
    expectConsistent(a.speaker);
    expectConsistent(b.speaker);
  });
});
