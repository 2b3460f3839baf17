/**
 * A vroom router on TAP devices (L2) behind real kernel bridges: each side
 * has a "switch" namespace holding the router's TAP device and a Linux
 * bridge that enslaves it and one end of a veth pair, whose other end is in
 * a host namespace with the host's addresses. ARP (RFC 826) and neighbour
 * discovery (RFC 4861) go through the kernel bridge both ways: the hosts
 * resolve the router's MAC, the router resolves the hosts', the bridge
 * learns the router's MAC on the TAP port, and ping and ping -6 cross the
 * router.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { arpMac, canRun, counters, Lab, macNumber, ndMac, ping, sh, warnIfSkipped } from "./lab.ts";

warnIfSkipped("test/integration/tap.test.ts");

const lab = new Lab("p");
afterEach(() => lab.cleanup());
afterAll(() => lab.sweep());

const ROUTER_MAC = ["02:00:5e:10:00:0a", "02:00:5e:10:00:0b"];
const HOST_MAC = ["02:00:5e:10:01:0a", "02:00:5e:10:01:0b"];

describe.skipIf(!canRun)("router over TAP devices in kernel bridges (root, real kernel)", () => {
  it("ARP and ND through a kernel bridge; ping and ping -6 across the router", async () => {
    const hv = lab.hypervisor();
    const router = lab.router(hv, {
      name: "r2",
      interfaces: [
        {
          name: "a",
          layer: "l2",
          mac: ROUTER_MAC[0],
          addresses: ["198.18.0.1/24", "2001:db8:0::1/64"],
        },
        {
          name: "b",
          layer: "l2",
          mac: ROUTER_MAC[1],
          addresses: ["198.18.1.1/24", "2001:db8:1::1/64"],
        },
      ],
    });
    const hosts: string[] = [];
    const switches: { ns: string; br: string; tap: string }[] = [];
    for (const i of [0, 1]) {
      // The switch namespace speaks no IPv6 itself: only the hosts and the router do.
      const sw = lab.ns({ noIpv6: true });
      const host = lab.ns();
      const tap = hv.addTap({ device: lab.dev("p"), up: false });
      lab.moveIn(tap.device, sw);
      const br = lab.dev("br");
      sh("ip", [
        "-n",
        sw,
        "link",
        "add",
        br,
        "type",
        "bridge",
        "stp_state",
        "0",
        "mcast_snooping",
        "0",
      ]);
      const v = lab.veth(sw, host, { b: HOST_MAC[i] });
      for (const port of [tap.device, v.a]) {
        sh("ip", ["-n", sw, "link", "set", port, "master", br]);
        sh("ip", ["-n", sw, "link", "set", port, "up"]);
      }
      sh("ip", ["-n", sw, "link", "set", br, "up"]);
      lab.setup(host, v.b, {
        addresses: [`198.18.${i}.2/24`, `2001:db8:${i}::2/64`],
        routes: [
          ["default", "via", `198.18.${i}.1`],
          ["default", "via", `2001:db8:${i}::1`],
        ],
      });
      hv.bind("r2", i, tap.name);
      hosts.push(host);
      switches.push({ ns: sw, br, tap: tap.device });
    }
    const [hostA, hostB] = hosts;

    const p4 = await ping(hostA, "198.18.1.2", { count: 5, interval: 0.2 });
    expect(p4.out).toMatch(/5 packets transmitted, 5 received/);
    const p6 = await ping(hostA, "2001:db8:1::2", { count: 5, interval: 0.2 });
    expect(p6.out).toMatch(/5 packets transmitted, 5 received/);
    const back = await ping(hostB, "198.18.0.2", { count: 3, interval: 0.1 });
    expect(back.received).toBe(3);

    // The hosts learned the router's MAC through the bridge ...
    for (const i of [0, 1]) {
      const n4 = sh("ip", ["-n", hosts[i], "neigh", "show", `198.18.${i}.1`]);
      expect(n4, n4).toMatch(new RegExp(`lladdr ${ROUTER_MAC[i]} `));
      const n6 = sh("ip", ["-n", hosts[i], "-6", "neigh", "show", `2001:db8:${i}::1`]);
      expect(n6, n6).toMatch(new RegExp(`lladdr ${ROUTER_MAC[i]} router`));
      // ... the bridge learned it on the TAP port ...
      const fdb = sh("bridge", ["-n", switches[i].ns, "fdb", "show", "br", switches[i].br]);
      expect(fdb).toMatch(new RegExp(`${ROUTER_MAC[i]} dev ${switches[i].tap} `));
      // ... and the router resolved the hosts.
      const ifc = router.ifaces[i];
      expect(arpMac(ifc, `198.18.${i}.2`)).toBe(macNumber(HOST_MAC[i]));
      expect(ndMac(ifc, `2001:db8:${i}::2`)).toBe(macNumber(HOST_MAC[i]));
    }

    const c = counters(router);
    expect(c.a.rxPackets).toBeGreaterThanOrEqual(13);
    expect(c.b.txPackets).toBeGreaterThanOrEqual(13);
    for (const ifc of ["a", "b"]) {
      for (const reason of ["malformed", "bad-checksum", "no-route", "neighbor-unresolved"])
        expect(c[ifc].drops[reason] ?? 0, `${ifc} ${reason}`).toBe(0);
    }
    expect(hv.stats().routers.r2.errors).toBe(0);
  });
});
