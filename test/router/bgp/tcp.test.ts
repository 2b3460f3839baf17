/** Two speakers over two of the router's real TCP stacks, wired in memory; then both layers migrated live. */
import { describe, expect, it } from "vitest";
import { parseBgpConfig } from "../../../router/bgp/config.ts";
import { BgpSpeaker } from "../../../router/bgp/speaker.ts";
import { TcpStack } from "../../../router/tcp/stack.ts";
import { Net } from "../tcp/harness.ts";
import { expectConsistent } from "./check.ts";
import { RouterStub } from "./harness.ts";

function speaker(
  stack: TcpStack,
  me: string,
  asn: number,
  peer: string,
  peerAsn: number,
  router: RouterStub,
) {
  const cfg = parseBgpConfig(
    {
      asn,
      routerId: me,
      holdTime: 9,
      connectRetryTime: 5,
      idleHoldTime: 1,
      policies: { all: { default: "accept" } },
      redistribute: [{ source: "connected" }],
      neighbors: [
        { address: peer, asn: peerAsn, import: "all", export: "all", password: "s3cret" },
      ],
    },
    [],
  );
  if (!cfg.ok) throw new Error(cfg.errors.join("\n"));
  return new BgpSpeaker(cfg.config, router, stack, { random: () => 0.5 });
}

describe("BGP over the router's TCP", () => {
  it("establishes (with TCP MD5), exchanges IPv4 and IPv6 routes, and survives a live move of both layers", () => {
    const net = new Net({ delay: 1 });
    const ra = new RouterStub([Uint32Array.of(0xc6120001), Uint32Array.of(0x20010db8, 0, 0, 1)]);
    const rb = new RouterStub([Uint32Array.of(0xc6120002), Uint32Array.of(0x20010db8, 0, 0, 2)]);
    ra.addLocal("connected", "198.19.1.0/24");
    ra.addLocal("connected", "2001:db8:100::/48");
    rb.addLocal("connected", "198.19.2.0/24");
    let a = speaker(net.a, "198.18.0.1", 65001, "198.18.0.2", 65002, ra);
    const b = speaker(net.b, "198.18.0.2", 65002, "198.18.0.1", 65001, rb);
    a.start(0);
    b.start(0);
    const step = (until: number) => {
      while (net.now < until) {
        net.runUntil(Math.min(until, net.now + 50));
        a.poll(net.now);
        b.poll(net.now);
      }
    };
    step(3000);
    expect(a.neighbors()[0].state).toBe("Established");
    expect(b.neighbors()[0].state).toBe("Established");
    expect(rb.installed.get("198.19.1.0/24")).toEqual({ nextHop: "198.18.0.1", distance: 20 });
    expect(rb.installed.get("2001:db8:100::/48")).toEqual({ nextHop: "2001:db8::1", distance: 20 });
    expect(ra.installed.get("198.19.2.0/24")).toEqual({ nextHop: "198.18.0.2", distance: 20 });

    // Move A: its TCP stack and its speaker, each exported and imported.
    const tcpState = net.a.export(net.now);
    const bgpState = structuredClone(a.export(net.now));
    const moved = speaker(net.a, "198.18.0.1", 65001, "198.18.0.2", 65002, ra);
    const fresh = TcpStack.import(
      tcpState,
      net.stackOptions("a"),
      {
        user: () => moved.transportUser,
        listener: (id) => ({ user: moved.transportUser, md5KeyFor: net.a.listener(id)!.md5KeyFor }),
      },
      net.now,
    );
    net.a = fresh;
    moved.import(bgpState, net.now, (id) => fresh.connection(id));
    a = moved;
    // Well past several hold times: keepalives flow over the moved connection.
    step(60_000);
    expect(a.neighbors()[0].state).toBe("Established");
    expect(b.neighbors()[0]).toMatchObject({ state: "Established", flaps: 0, establishedCount: 1 });
    // Withdrawals and new routes still go both ways.
    ra.local = ra.local.filter((r) => r.family === 6);
    a.localRoutesChanged(net.now);
    rb.addLocal("connected", "198.19.3.0/24");
    b.localRoutesChanged(net.now);
    step(62_000);
    expect(rb.installed.has("198.19.1.0/24")).toBe(false);
    expect(rb.installed.has("2001:db8:100::/48")).toBe(true);
    expect(ra.installed.get("198.19.3.0/24")).toEqual({ nextHop: "198.18.0.2", distance: 20 });
    expectConsistent(a);
    expectConsistent(b);
    // A clean stop: B hears Cease.
    a.stop(net.now, "bye");
    step(63_000);
    expect(b.neighbors()[0].lastError).toMatchObject({
      direction: "received",
      code: 6,
      subcode: 2,
    });
  });
});
