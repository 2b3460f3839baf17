/**
 * BGP-4 between a vroom router and a real BIRD 2, over the router's own
 * userspace TCP, on the real kernel.
 *
 * Namespace `peer` holds BIRD (AS 65002) behind the router's TUN interface
 * `p`; namespace `host` holds a plain host behind interface `h`. The router
 * (AS 65001) has three sessions with BIRD: IPv4 (the router opens, BIRD is
 * passive), IPv6 (BIRD opens, the router is passive) and an IPv4 session
 * protected by TCP MD5 (RFC 2385) between second addresses on both ends
 * (the kernel keys MD5 by peer address, so it gets a pair of its own). BIRD
 * announces 198.19.0.0/24 and 2001:db8:100::/48, whose first addresses sit
 * on its loopback; the router redistributes the host's subnet (a prefix
 * list in a policy), which
 * BIRD installs in its kernel, so that the host's pings cross the router
 * to the prefixes learned by BGP and come back.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { BirdPeer, birdConfig } from "../../tools/peers/bird.ts";
import { canRun, Lab, ping, sh, until, warnIfSkipped } from "./lab.ts";

warnIfSkipped("test/integration/bgp-bird.test.ts");
const hasBird = (() => {
  try {
    sh("bird", ["--version"]);
    return true;
  } catch {
    return false;
  }
})();
if (canRun && !hasBird) {
  console.warn(
    "test/integration/bgp-bird.test.ts: skipped: BIRD 2 is not installed (bash tools/setup.sh)",
  );
}

const lab = new Lab("g");

const ROUTER = {
  name: "vr1",
  interfaces: [
    { name: "p", layer: "l3", addresses: ["198.18.1.1/24", "198.18.1.4/24", "2001:db8:1::1/64"] },
    { name: "h", layer: "l3", addresses: ["198.18.2.1/24", "2001:db8:2::1/64"] },
  ],
  bgp: {
    asn: 65001,
    routerId: "198.18.255.1",
    connectRetryTime: 1,
    idleHoldTime: 1,
    // Only the host's subnet: the peering link is BIRD's own connected subnet.
    prefixLists: { hosts: [{ prefix: "198.18.2.0/24" }, { prefix: "2001:db8:2::/64" }] },
    policies: {
      "host-subnets": { terms: [{ match: { prefixList: "hosts" }, action: "accept" }] },
    },
    redistribute: [{ source: "connected", policy: "host-subnets" }],
    neighbors: [
      {
        address: "198.18.1.2",
        asn: 65002,
        families: ["ipv4"],
        import: "accept",
        export: "accept",
        holdTime: 6,
      },
      {
        address: "2001:db8:1::2",
        asn: 65002,
        families: ["ipv6"],
        passive: true,
        import: "accept",
        export: "accept",
      },
      {
        address: "198.18.1.3",
        localAddress: "198.18.1.4",
        asn: 65002,
        families: ["ipv4"],
        password: "vroom-md5",
        import: "reject",
        export: "accept",
      },
    ],
  },
};

const BIRD = birdConfig({
  routerId: "198.18.1.2",
  as: 65002,
  kernel: true,
  staticRoutes: ["198.19.0.0/24", "2001:db8:100::/48"],
  neighbors: [
    {
      name: "vr1_v4",
      address: "198.18.1.1",
      localAddress: "198.18.1.2",
      as: 65001,
      passive: true,
      holdTime: 6,
      channels: ["ipv4"],
    },
    {
      name: "vr1_v6",
      address: "2001:db8:1::1",
      localAddress: "2001:db8:1::2",
      as: 65001,
      channels: ["ipv6"],
    },
    {
      name: "vr1_md5",
      address: "198.18.1.4",
      localAddress: "198.18.1.3",
      as: 65001,
      password: "vroom-md5",
      channels: ["ipv4"],
    },
  ],
});

describe.skipIf(!canRun || !hasBird)("BGP with BIRD 2 (root, real kernel)", () => {
  let hv: Hypervisor;
  let router: VirtualRouter;
  let peerNs: string;
  let hostNs: string;
  let peerDev: string;
  let bird: BirdPeer;
  let dir: string;

  const neighbor = (name: string) => router.bgp!.neighbors().find((n) => n.name === name)!;
  const hasRoute = (family: 4 | 6, prefix: string) =>
    [...router.rib.routes()].some(
      (r) => r.family === family && r.prefix === prefix && r.best.source === "bgp",
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vroom-bgp-bird-"));
    try {
      hv = lab.hypervisor();
      router = lab.router(hv, ROUTER);
      peerNs = lab.ns();
      hostNs = lab.ns();
      const p = hv.addTun({ device: lab.dev("p"), up: false });
      lab.moveIn(p.device, peerNs);
      peerDev = p.device;
      lab.setup(peerNs, p.device, {
        addresses: ["198.18.1.2/24", "198.18.1.3/24", "2001:db8:1::2/64"],
      });
      sh("ip", ["-n", peerNs, "addr", "add", "198.19.0.1/24", "dev", "lo"]);
      sh("ip", ["-n", peerNs, "addr", "add", "2001:db8:100::1/48", "dev", "lo"]);
      hv.bind("vr1", 0, p.name);
      const h = hv.addTun({ device: lab.dev("h"), up: false });
      lab.moveIn(h.device, hostNs);
      lab.setup(hostNs, h.device, {
        addresses: ["198.18.2.2/24", "2001:db8:2::2/64"],
        routes: [
          ["default", "dev", h.device],
          ["2001:db8::/32", "dev", h.device],
        ],
      });
      hv.bind("vr1", 1, h.name);
      bird = await BirdPeer.start(peerNs, dir, BIRD);
    } catch (e) {
      lab.cleanup();
      throw e;
    }
  });
  afterAll(async () => {
    try {
      await bird?.stop();
      lab.cleanup();
    } finally {
      lab.sweep();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("establishes IPv4 (router opens) and IPv6 (BIRD opens) sessions and installs BIRD's routes", async () => {
    const v4 = await bird.established("vr1_v4");
    const v6 = await bird.established("vr1_v6");
    expect(v4.bgpState).toBe("Established");
    expect(v6.bgpState).toBe("Established");
    expect(neighbor("198.18.1.2").state).toBe("Established");
    expect(neighbor("2001:db8:1::2").state).toBe("Established");
    expect(neighbor("198.18.1.2").connections.some((c) => c.outgoing)).toBe(true);
    await until(
      () => hasRoute(4, "198.19.0.0/24") && hasRoute(6, "2001:db8:100::/48"),
      10_000,
      "routes from BIRD",
    );
  });

  it("forwards the host's pings to prefixes learned by BGP; BIRD has the router's connected subnets", async () => {
    await until(
      () => hasRoute(4, "198.19.0.0/24") && hasRoute(6, "2001:db8:100::/48"),
      10_000,
      "routes",
    );
    const route = await bird.route("master4", "198.18.2.0/24");
    expect(route).toMatch(/65001/);
    const route6 = await bird.route("master6", "2001:db8:2::/64");
    expect(route6).toMatch(/65001/);
    const p4 = await ping(hostNs, "198.19.0.1", { count: 3, interval: 0.2 });
    expect(p4.out).toMatch(/3 packets transmitted, 3 received/);
    const p6 = await ping(hostNs, "2001:db8:100::1", { count: 3, interval: 0.2 });
    expect(p6.out).toMatch(/3 packets transmitted, 3 received/);
  });

  it("withdraws a route BIRD stops announcing, and learns it again", async () => {
    await bird.birdc("disable", "static_ipv4");
    await until(() => !hasRoute(4, "198.19.0.0/24"), 10_000, "the withdrawal");
    const lost = await ping(hostNs, "198.19.0.1", { count: 1, interval: 0.2 });
    expect(lost.out).toMatch(/0 received|Unreachable/);
    await bird.birdc("enable", "static_ipv4");
    await until(() => hasRoute(4, "198.19.0.0/24"), 10_000, "the route back");
  });

  it("answers a route refresh from BIRD and asks BIRD for one", async () => {
    const before = await bird.protocol("vr1_v4");
    const exported = before.channels.ipv4?.exported ?? 0;
    const inBefore = neighbor("198.18.1.2").messagesIn;
    await bird.birdc("reload", "in", "vr1_v4");
    await until(
      () => (neighbor("198.18.1.2").messagesIn.routeRefresh ?? 0) > (inBefore.routeRefresh ?? 0),
      10_000,
      "BIRD's ROUTE-REFRESH",
    );
    expect(exported).toBeGreaterThan(0);
    const updates = neighbor("198.18.1.2").updatesIn;
    expect(router.bgp!.refresh("198.18.1.2", 4, performance.now())).toBe(true);
    await until(() => neighbor("198.18.1.2").updatesIn > updates, 10_000, "BIRD's re-sent routes");
    expect(neighbor("198.18.1.2").state).toBe("Established");
  });

  it("establishes the MD5-protected session and exports to it", async () => {
    const md5 = await bird.established("vr1_md5");
    expect(md5.bgpState).toBe("Established");
    await until(() => neighbor("198.18.1.3").state === "Established", 10_000, "vroom's view");
    // The router imports nothing on this session (policy reject) but exports its routes.
    expect(neighbor("198.18.1.3").prefixesAccepted).toBe(0);
    const p = await bird.protocol("vr1_md5");
    expect(p.channels.ipv4?.imported).toBeGreaterThan(0);
  });

  it("restarts a session after BIRD closes it with a NOTIFICATION (Cease)", async () => {
    const flaps = neighbor("198.18.1.2").establishedCount;
    await bird.birdc("restart", "vr1_v4");
    await until(() => neighbor("198.18.1.2").establishedCount > flaps, 20_000, "the new session");
    expect(neighbor("198.18.1.2").lastError?.text ?? "").toMatch(/cease|Cease|administrative/i);
    await bird.established("vr1_v4");
  });

  it("expires the hold timer when BIRD vanishes, withdrawing its routes", async () => {
    await until(() => neighbor("198.18.1.2").state === "Established", 20_000, "session up");
    await until(() => hasRoute(4, "198.19.0.0/24"), 10_000, "route");
    // Silence: the link goes down inside the peer's namespace, nobody sends FIN or NOTIFICATION.
    sh("ip", ["-n", peerNs, "link", "set", peerDev, "down"]);
    try {
      await until(
        () => neighbor("198.18.1.2").state !== "Established",
        15_000,
        "hold timer expiry",
      );
      expect(neighbor("198.18.1.2").lastError?.text ?? "").toMatch(/hold/i);
      await until(() => !hasRoute(4, "198.19.0.0/24"), 5000, "routes withdrawn");
    } finally {
      sh("ip", ["-n", peerNs, "link", "set", peerDev, "up"]);
    }
    await until(() => neighbor("198.18.1.2").state === "Established", 30_000, "recovery");
  }, 60_000);
});
