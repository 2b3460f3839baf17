/** Export and import of a speaker's whole state mid-session: the peer notices nothing. */
import { describe, expect, it } from "vitest";
import { parseBgpConfig } from "../../../router/bgp/config.ts";
import { BgpSpeaker } from "../../../router/bgp/speaker.ts";
import { resolveSpeakerState, routeIdentity } from "../../../router/bgp/state.ts";
import { encodeKeepalive } from "../../../router/bgp/wire/header.ts";
import { expectConsistent } from "./check.ts";
import { MemoryNet, type Node, node, run, stateOf } from "./harness.ts";

const CONFIG = {
  asn: 65001,
  policies: { all: { default: "accept" } },
  redistribute: [{ source: "connected" }],
  neighbors: [{ address: "198.18.0.2", asn: 65002, import: "all", export: "all" }],
};

function setup() {
  const net = new MemoryNet();
  const a = node(net, "a", ["198.18.0.1", "2001:db8::1"], CONFIG);
  const b = node(net, "b", ["198.18.0.2", "2001:db8::2"], {
    asn: 65002,
    policies: { all: { default: "accept" } },
    redistribute: [{ source: "connected" }],
    neighbors: [{ address: "198.18.0.1", asn: 65001, import: "all", export: "all" }],
  });
  for (let i = 0; i < 500; i++) a.router.addLocal("connected", `198.19.${i >> 8}.${i & 255}/32`);
  a.router.addLocal("connected", "2001:db8:100::/48");
  b.router.addLocal("connected", "198.18.100.0/24");
  a.speaker.start(0);
  b.speaker.start(0);
  run(net, [a, b], 2000);
  return { net, a, b };
}

/** Moves `a`'s speaker to a fresh one (same config, same router and transport), as a migration does. */
function migrate(net: MemoryNet, a: Node): BgpSpeaker {
  const state = structuredClone(a.speaker.export(net.now));
  const cfg = parseBgpConfig(CONFIG, [0xc6120001]);
  if (!cfg.ok) throw new Error("config");
  const moved = new BgpSpeaker(cfg.config, a.router, a.transport, { random: () => 0.5 });
  // The TCP stack's own import hands its connections to the new speaker's user.
  for (const c of net.connections.values())
    if (c.user === a.speaker.transportUser) c.user = moved.transportUser;
  moved.import(state, net.now + 50, (id) => net.connections.get(id));
  a.speaker = moved;
  return moved;
}

describe("export and import", () => {
  it("carries sessions, RIBs and timers over; the session goes on without reset", () => {
    const { net, a, b } = setup();
    expect(b.router.installed.size).toBe(501);
    const before = [...a.speaker.routes(4)]
      .map((r) => `${r.prefix} ${r.asPath} ${r.nextHop}`)
      .sort();
    const moved = migrate(net, a);
    expect([...moved.routes(4)].map((r) => `${r.prefix} ${r.asPath} ${r.nextHop}`).sort()).toEqual(
      before,
    );
    expect(moved.neighbors()[0]).toMatchObject({
      state: "Established",
      prefixesAdvertised: 501,
      prefixesAccepted: 1,
      flaps: 0,
    });
    expectConsistent(moved);
    // Time passes: keepalives keep the session up on both sides.
    run(net, [a, b], 400_000);
    expect(stateOf(a, "198.18.0.2")).toBe("Established");
    expect(b.speaker.neighbors()[0]).toMatchObject({ flaps: 0, establishedCount: 1 });
    // Changes keep flowing both ways.
    a.router.local = a.router.local.slice(100);
    moved.localRoutesChanged(net.now);
    b.router.addLocal("connected", "198.18.101.0/24");
    b.speaker.localRoutesChanged(net.now);
    run(net, [a, b], 401_000);
    expect(b.router.installed.size).toBe(401);
    expect(a.router.installed.has("198.18.101.0/24")).toBe(true);
    expectConsistent(moved);
  });

  it("carries half a message received before the move", () => {
    const { net, a, b } = setup();
    const conn = a.speaker.neighbor("198.18.0.2")!.session!.conn!;
    const ka = encodeKeepalive();
    a.speaker.transportUser.data(conn, ka.subarray(0, 7), net.now);
    const moved = migrate(net, a);
    const inBefore = moved.neighbors()[0].messagesIn.keepalive;
    moved.transportUser.data(conn, ka.subarray(7), net.now + 60);
    expect(moved.neighbors()[0].messagesIn.keepalive).toBe(inBefore + 1);
    expect(stateOf(a, "198.18.0.2")).toBe("Established");
    void b;
  });

  it("reinstalls its routes into a fresh router on request", () => {
    const { net, a } = setup();
    const moved = migrate(net, a);
    a.router.installed.clear();
    moved.reinstall(net.now);
    expect(a.router.installed.get("198.18.100.0/24")).toEqual({
      nextHop: "198.18.0.2",
      distance: 20,
    });
  });
});

describe("repeated exports to one receiver", () => {
  it("name unchanged tables by stamp, carry changed ones, and resolve to the full state", () => {
    const { net, a, b } = setup();
    const marks = new Map<string, number>();
    const first = a.speaker.export(net.now, marks);
    expect(first.loc.t4).toHaveProperty("words");
    run(net, [a, b], 3000); // keepalives only
    const second = a.speaker.export(net.now, marks);
    expect(second.loc.t4).toEqual({ same: (first.loc.t4 as { stamp: number }).stamp });
    expect(second.attrs).toHaveProperty("same");
    expect(second.sources.every((s) => "same" in s.t4 && "same" in s.t6)).toBe(true);
    const resolved = resolveSpeakerState(second, first);
    if (!resolved.ok) throw new Error(resolved.error);
    expect(resolved.state.loc).toEqual(first.loc);
    expect(routeIdentity(resolved.state)).toBe(routeIdentity(first));
    // b announces a route: a's Adj-RIB-In, Loc-RIB and attribute sets move, the rest stays named.
    b.router.addLocal("connected", "198.18.101.0/24");
    b.speaker.localRoutesChanged(net.now);
    run(net, [a, b], 500);
    const third = a.speaker.export(net.now, marks);
    expect(third.loc.t4).toHaveProperty("words");
    expect(third.attrs).toHaveProperty("length");
    expect(third.loc.t6).toHaveProperty("same");
    const full = resolveSpeakerState(third, resolved.state);
    if (!full.ok) throw new Error(full.error);
    expect(routeIdentity(full.state)).not.toBe(routeIdentity(first));
    // Against a receiver that holds nothing, a named table is an error that says which.
    const lost = resolveSpeakerState(second, undefined);
    expect(lost.ok ? "" : lost.error).toMatch(
      /is sent as unchanged since \d+, but no such copy is held/,
    );
  });

  it("an import of the same stamps keeps the tables a speaker loaded, and reports no route change", () => {
    const { net, a } = setup();
    const marks = new Map<string, number>();
    const first = structuredClone(a.speaker.export(net.now, marks));
    const cfg = parseBgpConfig(CONFIG, [0xc6120001]);
    if (!cfg.ok) throw new Error("config");
    const copy = new BgpSpeaker(cfg.config, a.router, a.transport, { random: () => 0.5 });
    expect(copy.import(first, net.now, (id) => net.connections.get(id))).toBe(true);
    const loc = copy.loc.t4;
    const second = a.speaker.export(net.now, marks);
    const resolved = resolveSpeakerState(second, first);
    if (!resolved.ok) throw new Error(resolved.error);
    expect(copy.import(resolved.state, net.now, (id) => net.connections.get(id))).toBe(false);
    expect(copy.loc.t4).toBe(loc);
    expect(copy.loc.t4.size).toBe(a.speaker.loc.t4.size);
  });
});
