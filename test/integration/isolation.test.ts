/**
 * Two virtual routers in one hypervisor with the same prefixes (both
 * 198.18.0.1/24 and 198.18.1.1/24), each over its own pair of TUN devices
 * into its own two namespaces. Both carry pings at once, of different sizes
 * and counts, and every counter (the routers' per interface, the links') shows
 * exactly its own router's traffic: nothing of one ever reaches the other.
 * IPv6 is off in these namespaces so the kernel sends nothing unasked and
 * the counts are exact.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { canRun, counters, Lab, ping, warnIfSkipped } from "./lab.ts";

warnIfSkipped("test/integration/isolation.test.ts");

const lab = new Lab("i");
afterEach(() => lab.cleanup());
afterAll(() => lab.sweep());

describe.skipIf(!canRun)("isolation of routers with the same prefixes (root, real kernel)", () => {
  it("two routers with the same addresses carry their own traffic only, at once", async () => {
    const hv = lab.hypervisor();
    const plan = [
      { name: "red", count: 5, size: 100 },
      { name: "blue", count: 7, size: 200 },
    ];
    const setups = plan.map(({ name }) => {
      const router = lab.router(hv, {
        name,
        interfaces: [
          { name: "a", layer: "l3", addresses: ["198.18.0.1/24"] },
          { name: "b", layer: "l3", addresses: ["198.18.1.1/24"] },
        ],
      });
      const nss: string[] = [];
      const links: string[] = [];
      for (const i of [0, 1]) {
        const ns = lab.ns({ noIpv6: true });
        const tun = hv.addTun({ device: lab.dev("t"), up: false });
        lab.moveIn(tun.device, ns);
        lab.setup(ns, tun.device, {
          addresses: [`198.18.${i}.2/24`],
          routes: [["198.18.0.0/15", "dev", tun.device]],
        });
        hv.bind(name, i, tun.name);
        nss.push(ns);
        links.push(tun.name);
      }
      return { router, nss, links };
    });

    const results = await Promise.all(
      plan.map(({ count, size }, k) =>
        ping(setups[k].nss[0], "198.18.1.2", { count, size, interval: 0.1 }),
      ),
    );
    const stats = hv.stats();
    plan.forEach(({ name, count, size }, k) => {
      expect(results[k].out, name).toMatch(
        new RegExp(`${count} packets transmitted, ${count} received`),
      );
      const bytes = count * (size + 28); // IPv4 header + ICMP header + payload
      const c = counters(setups[k].router);
      for (const ifc of ["a", "b"]) {
        expect(c[ifc], `${name}.${ifc}`).toMatchObject({
          rxPackets: count,
          rxBytes: bytes,
          txPackets: count,
          txBytes: bytes,
          drops: {},
        });
      }
      for (const link of setups[k].links) {
        expect(stats.links[link].boundTo).toMatch(new RegExp(`^${name}/`));
        expect(stats.links[link].link, `${name} ${link}`).toMatchObject({
          rxPackets: count,
          rxBytes: bytes,
          txPackets: count,
          txBytes: bytes,
        });
        expect(stats.links[link].path.drops).toEqual({});
      }
      expect(stats.routers[name]).toMatchObject({ rxPackets: 2 * count, txPackets: 2 * count });
      expect(stats.routers[name].errors).toBe(0);
    });
  });
});
