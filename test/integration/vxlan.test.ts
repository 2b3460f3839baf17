/**
 * A vroom router between two kernel `vxlan` devices (RFC 7348). Namespaces A
 * and B each hold a vxlan device (VNIs 1001 and 1002) whose remote VTEP is
 * the hypervisor's VXLAN endpoint; they reach it over veth pairs into the
 * root namespace, where the test process (and so the endpoint's UDP socket)
 * lives. The endpoint listens on an ephemeral port, which the kernel devices
 * take as their `dstport`, so no well-known port of the host is used. The
 * router's interfaces are L2 on the hypervisor's VXLAN links: ARP and ND,
 * ping and ping -6 go across, and each side's MACs are learned by the other.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { arpMac, canRun, counters, Lab, macNumber, ndMac, ping, sh, warnIfSkipped } from "./lab.ts";

warnIfSkipped("test/integration/vxlan.test.ts");

const lab = new Lab("x");
afterEach(() => lab.cleanup());
afterAll(() => lab.sweep());

const ROUTER_MAC = ["02:00:5e:10:02:0a", "02:00:5e:10:02:0b"];
const HOST_MAC = ["02:00:5e:10:03:0a", "02:00:5e:10:03:0b"];
const VNI = [1001, 1002];

describe.skipIf(!canRun)(
  "router over VXLAN links to kernel vxlan devices (root, real kernel)",
  () => {
    it("ping and ping -6 across the router, each end a kernel vxlan device", async () => {
      const hv = lab.hypervisor();
      const ep = hv.openVxlanEndpoint({ port: 0 });
      const router = lab.router(hv, {
        name: "r3",
        interfaces: [0, 1].map((i) => ({
          name: `vx${i}`,
          layer: "l2",
          mtu: 1450,
          mac: ROUTER_MAC[i],
          addresses: [`198.18.${i}.1/24`, `2001:db8:${i}::1/64`],
        })),
      });
      // Underlay: root .1/.5 (this file's fourth octets: 1..7), namespaces .2/.6.
      const net = lab.underlay();
      const hosts: string[] = [];
      const devs: string[] = [];
      for (const i of [0, 1]) {
        const ns = lab.ns();
        const root = `${net}${1 + 4 * i}`;
        const peer = `${net}${2 + 4 * i}`;
        const leg = lab.underlayLeg(ns, root, peer);
        devs.push(
          lab.kernelVxlan(
            ns,
            {
              vni: VNI[i],
              local: peer,
              remote: root,
              port: ep.port,
              dev: leg.nsDev,
              mac: HOST_MAC[i],
            },
            {
              addresses: [`198.18.${i}.2/24`, `2001:db8:${i}::2/64`],
              routes: [
                ["default", "via", `198.18.${i}.1`],
                ["default", "via", `2001:db8:${i}::1`],
              ],
            },
          ),
        );
        hv.addVxlan({ name: `vx${i}`, vni: VNI[i], remotes: [peer], remotePort: ep.port });
        hv.bind("r3", i, `vx${i}`);
        hosts.push(ns);
      }

      const p4 = await ping(hosts[0], "198.18.1.2", { count: 5, interval: 0.2 });
      expect(p4.out).toMatch(/5 packets transmitted, 5 received/);
      const p6 = await ping(hosts[0], "2001:db8:1::2", { count: 5, interval: 0.2 });
      expect(p6.out).toMatch(/5 packets transmitted, 5 received/);
      const own = await ping(hosts[1], "2001:db8:1::1", { count: 2, interval: 0.1 });
      expect(own.received).toBe(2);

      for (const i of [0, 1]) {
        const ifc = router.ifaces[i];
        expect(arpMac(ifc, `198.18.${i}.2`)).toBe(macNumber(HOST_MAC[i]));
        expect(ndMac(ifc, `2001:db8:${i}::2`)).toBe(macNumber(HOST_MAC[i]));
        const n4 = sh("ip", ["-n", hosts[i], "neigh", "show", `198.18.${i}.1`]);
        expect(n4).toMatch(new RegExp(`lladdr ${ROUTER_MAC[i]} `));
        // The kernel learned the router's MAC at the endpoint's address; we learned its.
        const fdb = sh("bridge", ["-n", hosts[i], "fdb", "show", "dev", devs[i]]);
        expect(fdb).toMatch(
          new RegExp(`${ROUTER_MAC[i]} dst ${net.replaceAll(".", "\\.")}${1 + 4 * i} `),
        );
        expect(hv.vxlanEndpoint?.get(VNI[i])?.learned()).toContainEqual({
          mac: macNumber(HOST_MAC[i]),
          vtep: `${net}${2 + 4 * i}`,
        });
      }
      const c = counters(router);
      expect(c.vx0.rxPackets).toBeGreaterThanOrEqual(10);
      expect(c.vx1.txPackets).toBeGreaterThanOrEqual(10);
      for (const ifc of ["vx0", "vx1"]) {
        for (const reason of ["malformed", "bad-checksum", "no-route", "neighbor-unresolved"])
          expect(c[ifc].drops[reason] ?? 0, `${ifc} ${reason}`).toBe(0);
      }
      expect(ep.stats().drops).toEqual({});
      expect(hv.stats().routers.r3.errors).toBe(0);
    });
  },
);
