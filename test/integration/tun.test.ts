/**
 * A vroom router between two kernel namespaces over TUN devices (L3, no
 * link-layer header): namespace A holds one TUN device of the router, B the
 * other. The kernel's own ping, ping -6 and traceroute (UDP and ICMP, both
 * families) cross the router: echoes are forwarded both ways, the router's
 * own addresses answer echo, and a probe whose TTL or hop limit runs out at
 * the router is answered with Time Exceeded (RFC 792, RFC 4443 3.3) from the
 * address of the interface it came in on, so traceroute shows the router as
 * hop 1 and B as hop 2.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { canRun, counters, Lab, ping, runIn, traceHops, warnIfSkipped } from "./lab.ts";

warnIfSkipped("test/integration/tun.test.ts");

const lab = new Lab("t");

describe.skipIf(!canRun)("router over TUN devices (root, real kernel)", () => {
  let hv: Hypervisor;
  let router: VirtualRouter;
  let nsA: string;
  let nsB: string;

  // One lab for the whole file: the tests only read what the traffic did.
  beforeAll(() => {
    try {
      hv = lab.hypervisor();
      router = lab.router(hv, {
        name: "r1",
        interfaces: [
          { name: "a", layer: "l3", addresses: ["198.18.0.1/24", "2001:db8:0::1/64"] },
          { name: "b", layer: "l3", addresses: ["198.18.1.1/24", "2001:db8:1::1/64"] },
        ],
      });
      nsA = lab.ns();
      nsB = lab.ns();
      for (const [i, ns, me, peer] of [
        [0, nsA, "0", "1"],
        [1, nsB, "1", "0"],
      ] as const) {
        const tun = hv.addTun({ device: lab.dev("t"), up: false });
        lab.moveIn(tun.device, ns);
        lab.setup(ns, tun.device, {
          addresses: [`198.18.${me}.2/24`, `2001:db8:${me}::2/64`],
          routes: [
            ["198.18.0.0/15", "dev", tun.device],
            [`2001:db8:${peer}::/64`, "dev", tun.device],
          ],
        });
        hv.bind("r1", i, tun.name);
      }
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

  it("forwards ping and ping -6 from A to B with no loss, and counts them", async () => {
    const before = counters(router);
    const p4 = await ping(nsA, "198.18.1.2", { count: 5, interval: 0.2 });
    expect(p4.out).toMatch(/5 packets transmitted, 5 received/);
    expect(p4.code).toBe(0);
    const p6 = await ping(nsA, "2001:db8:1::2", { count: 5, interval: 0.2 });
    expect(p6.out).toMatch(/5 packets transmitted, 5 received/);
    expect(p6.code).toBe(0);
    const after = counters(router);
    // Ten echo requests in on a and out on b, ten replies back (plus whatever
    // IPv6 chatter the kernel sends on its own, never forwarded).
    for (const [ifc, dir] of [
      ["a", "rxPackets"],
      ["b", "txPackets"],
      ["b", "rxPackets"],
      ["a", "txPackets"],
    ] as const) {
      expect(after[ifc][dir] - before[ifc][dir], `${ifc}.${dir}`).toBeGreaterThanOrEqual(10);
    }
    expect(after.b.txPackets - before.b.txPackets).toBe(10);
    expect(after.a.txPackets - before.a.txPackets).toBe(10);
    for (const ifc of ["a", "b"]) {
      for (const reason of ["malformed", "bad-checksum", "no-route", "ttl-expired", "tx-full"])
        expect(after[ifc].drops[reason] ?? 0, `${ifc} ${reason}`).toBe(0);
    }
    expect(hv.stats().routers.r1.errors).toBe(0);
  });

  it("answers echo on its own addresses, both families, both interfaces", async () => {
    for (const address of ["198.18.0.1", "198.18.1.1", "2001:db8:0::1", "2001:db8:1::1"]) {
      const p = await ping(nsA, address, { count: 3, interval: 0.1 });
      expect(p.out, address).toMatch(/3 packets transmitted, 3 received/);
    }
    const p = await ping(nsB, "198.18.1.1", { count: 3, interval: 0.1 });
    expect(p.received).toBe(3);
  });

  it("traceroute (UDP and ICMP, IPv4 and IPv6) shows the router first, then B", async () => {
    const cases: [string, string[], string, string][] = [
      ["udp4", [], "198.18.1.2", "198.18.0.1"],
      ["icmp4", ["-I"], "198.18.1.2", "198.18.0.1"],
      ["udp6", ["-6"], "2001:db8:1::2", "2001:db8::1"],
      ["icmp6", ["-6", "-I"], "2001:db8:1::2", "2001:db8::1"],
    ];
    for (const [what, flags, target, routerAddr] of cases) {
      const before = counters(router).a.drops["ttl-expired"] ?? 0;
      // One probe at a time (-N 1), two per hop, up to 4 hops, 2 s per probe at most.
      const r = await runIn(nsA, "traceroute", [
        "-n",
        ...flags,
        "-N",
        "1",
        "-q",
        "2",
        "-m",
        "4",
        "-w",
        "2",
        target,
      ]);
      expect(r.code, `${what}: ${r.out}`).toBe(0);
      const hops = traceHops(r.out);
      expect(hops, `${what}: ${r.out}`).toEqual([routerAddr, target]);
      // Both probes of hop 1 expired at the router (and were answered).
      const expired = (counters(router).a.drops["ttl-expired"] ?? 0) - before;
      expect(expired, what).toBe(2);
    }
  });
});
