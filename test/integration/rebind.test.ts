/**
 * Re-binding a router interface while traffic flows (DESIGN.md's binding
 * table, what a migration does to each link): namespace A pings B's address
 * through the router at 100 echoes a second; mid-stream the router's B-side
 * interface is re-bound to a device in namespace B2 that has the same
 * address, and the router announces itself there. At most the echoes in
 * flight at that instant may be lost; the rest are answered, the later ones
 * by B2.
 *
 * Over TUN (L3) that is all. Over TAP (L2) B2 is the same neighbour moved
 * (same MAC and address) and accepts gratuitous ARP (`arp_accept`): the
 * router's announcement (a gratuitous ARP, RFC 5227 section 3) must reach
 * B2 before the first echo does, so B2 answers without ever asking for the
 * router's MAC. IPv6 is off in these namespaces so every count is exact.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { Link } from "../../hypervisor/link.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { canRun, counters, Lab, parsePing, sh, until, warnIfSkipped } from "./lab.ts";

warnIfSkipped("test/integration/rebind.test.ts");

const lab = new Lab("r");
afterEach(() => lab.cleanup());
afterAll(() => lab.sweep());

const ROUTER_MAC = "02:00:5e:10:06:0b";
const HOST_MAC = "02:00:5e:10:06:0c";
const TOTAL = 300;

/**
 * Pings 198.18.1.2 from `nsA` TOTAL times at 100/s, re-binds interface 1 to
 * `to` after 100 echoes went out and announces it; checks the loss and the
 * order; answers how many packets the old link had carried and how many
 * the announcement sent.
 */
async function pingThroughRebind(
  hv: Hypervisor,
  router: VirtualRouter,
  nsA: string,
  from: Link,
  to: Link,
): Promise<{ atRebind: number; announced: number }> {
  const pinger = lab.spawnIn(nsA, "ping", [
    "-4",
    "-n",
    "-i",
    "0.01",
    "-c",
    String(TOTAL),
    "-W",
    "1",
    "198.18.1.2",
  ]);
  await until(() => from.stats().txPackets >= 100, 10_000, "100 echoes to B");
  const old = hv.rebind(router.name, 1, to.name);
  const sent = router.ifaces[1].counters.txPackets;
  router.announce(1, hv.clock());
  const announced = router.ifaces[1].counters.txPackets - sent;
  const atRebind = from.stats().txPackets;
  expect(old).toBe(from);
  const r = parsePing(await pinger.done);

  expect(r.transmitted, r.out).toBe(TOTAL);
  expect(TOTAL - r.received, r.out).toBeLessThanOrEqual(2);
  // Echo k is the k-th packet B's side carried: only those around the rebind may be missing.
  const seqs = new Set([...r.out.matchAll(/icmp_seq=(\d+) ttl/g)].map((m) => Number(m[1])));
  const missing = Array.from({ length: TOTAL }, (_, i) => i + 1).filter((s) => !seqs.has(s));
  expect(missing.length).toBeLessThanOrEqual(2);
  expect(
    missing.every((s) => s >= atRebind - 2 && s <= atRebind + 3),
    `missing ${missing}, rebind after ${atRebind}`,
  ).toBe(true);
  // The old link carried nothing after the rebind.
  expect(from.stats().txPackets).toBe(atRebind);
  expect(atRebind).toBeGreaterThanOrEqual(100);
  const c = counters(router);
  expect(c.a.drops).toEqual({});
  expect(c.b.drops).toEqual({});
  expect(hv.stats().routers[router.name].errors).toBe(0);
  return { atRebind, announced };
}

describe.skipIf(!canRun)("re-binding a router interface under traffic (root, real kernel)", () => {
  it("TUN: moves B's side to B2 mid-stream at 100 pings/s, losing at most what is in flight", async () => {
    const hv = lab.hypervisor();
    const router = lab.router(hv, {
      name: "mover",
      interfaces: [
        { name: "a", layer: "l3", addresses: ["198.18.0.1/24"] },
        { name: "b", layer: "l3", addresses: ["198.18.1.1/24"] },
      ],
    });
    const tunIn = (ns: string, address: string) => {
      const tun = hv.addTun({ device: lab.dev("t"), up: false });
      lab.moveIn(tun.device, ns);
      lab.setup(ns, tun.device, {
        addresses: [address],
        routes: [["198.18.0.0/15", "dev", tun.device]],
      });
      return tun;
    };
    const [nsA, nsB, nsB2] = [
      lab.ns({ noIpv6: true }),
      lab.ns({ noIpv6: true }),
      lab.ns({ noIpv6: true }),
    ];
    const tA = tunIn(nsA, "198.18.0.2/24");
    const tB = tunIn(nsB, "198.18.1.2/24");
    const tB2 = tunIn(nsB2, "198.18.1.2/24"); // the same address, elsewhere
    hv.bind("mover", 0, tA.name);
    hv.bind("mover", 1, tB.name);

    const { atRebind, announced } = await pingThroughRebind(hv, router, nsA, tB, tB2);
    expect(announced).toBe(0); // nothing to announce on an L3 link
    const sB2 = tB2.stats();
    expect(sB2.txPackets).toBeGreaterThanOrEqual(TOTAL - atRebind - 2);
    expect(tB.stats().txPackets + sB2.txPackets).toBe(router.ifaces[1].counters.txPackets);
    expect(sB2.rxPackets).toBe(sB2.txPackets); // B2 answered every echo it got
  });

  it("TAP: the same neighbour moved to B2 learns the router from its announcement alone", async () => {
    const hv = lab.hypervisor();
    const router = lab.router(hv, {
      name: "mover2",
      interfaces: [
        { name: "a", layer: "l3", addresses: ["198.18.0.1/24"] },
        { name: "b", layer: "l2", mac: ROUTER_MAC, addresses: ["198.18.1.1/24"] },
      ],
    });
    const [nsA, nsB, nsB2] = [
      lab.ns({ noIpv6: true }),
      lab.ns({ noIpv6: true }),
      lab.ns({ noIpv6: true }),
    ];
    const tA = hv.addTun({ device: lab.dev("t"), up: false });
    lab.moveIn(tA.device, nsA);
    lab.setup(nsA, tA.device, {
      addresses: ["198.18.0.2/24"],
      routes: [["198.18.0.0/15", "dev", tA.device]],
    });
    // B and B2: the host's side of a TAP, same MAC and address; B2 takes gratuitous ARP.
    const taps = [nsB, nsB2].map((ns) => {
      const tap = hv.addTap({ device: lab.dev("p"), up: false });
      lab.moveIn(tap.device, ns);
      sh("ip", ["-n", ns, "link", "set", tap.device, "address", HOST_MAC]);
      sh("ip", [
        "netns",
        "exec",
        ns,
        "sysctl",
        "-qw",
        `net.ipv4.conf.${tap.device}.arp_accept=1`,
        // No reachability probe of the router while the test runs (the default is after 5 s).
        `net.ipv4.neigh.${tap.device}.delay_first_probe_time=60`,
      ]);
      lab.setup(ns, tap.device, {
        addresses: ["198.18.1.2/24"],
        routes: [["198.18.0.0/15", "via", "198.18.1.1"]],
      });
      return tap;
    });
    const [pB, pB2] = taps;
    hv.bind("mover2", 0, tA.name);
    hv.bind("mover2", 1, pB.name);

    const { atRebind, announced } = await pingThroughRebind(hv, router, nsA, pB, pB2);
    // pB carried the router's ARP request and the echoes; pB2 the announcement and the rest.
    expect(announced).toBeGreaterThanOrEqual(1);
    const sB2 = pB2.stats();
    const echoesToB2 = sB2.txPackets - announced;
    expect(echoesToB2).toBeGreaterThanOrEqual(TOTAL - (atRebind - 1) - 2);
    // B2 sent nothing but echo replies: it never had to ask for the router's MAC ...
    expect(sB2.rxPackets).toBe(echoesToB2);
    // ... because the gratuitous ARP had put it in its table.
    const n4 = sh("ip", ["-n", nsB2, "neigh", "show", "198.18.1.1"]);
    expect(n4).toMatch(new RegExp(`lladdr ${ROUTER_MAC} `));
  });
});
