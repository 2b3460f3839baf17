/**
 * Local switching (DESIGN.md table 3, the VROOM paper's Figure 1a (3)): two
 * kernel vxlan segments, VNI 2001 in namespace A and VNI 2002 in B, both
 * pointed at the hypervisor's VXLAN endpoint, joined by `addSwitch` both
 * ways with no router at all. The two kernel devices are then one Ethernet
 * segment: they ARP and ND for each other and ping and ping -6 work. Once
 * the rules are removed the frames are dropped as unbound and ping fails.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { canRun, Lab, ping, sh, warnIfSkipped } from "./lab.ts";

warnIfSkipped("test/integration/switching.test.ts");

const lab = new Lab("s");
afterEach(() => lab.cleanup());
afterAll(() => lab.sweep());

const MAC = ["02:00:5e:10:04:0a", "02:00:5e:10:04:0b"];
const VNI = [2001, 2002];

describe.skipIf(!canRun)(
  "local switching between kernel vxlan segments (root, real kernel)",
  () => {
    it("joins two vxlan segments both ways without a router; removing the rules stops it", async () => {
      const hv = lab.hypervisor();
      const ep = hv.openVxlanEndpoint({ port: 0 });
      // Underlay: this file's fourth octets are 65..71 (vxlan.test.ts uses 1..7).
      const net = lab.underlay();
      const ns: string[] = [];
      for (const i of [0, 1]) {
        const n = lab.ns();
        const root = `${net}${65 + 4 * i}`;
        const peer = `${net}${66 + 4 * i}`;
        const leg = lab.underlayLeg(n, root, peer);
        lab.kernelVxlan(
          n,
          { vni: VNI[i], local: peer, remote: root, port: ep.port, dev: leg.nsDev, mac: MAC[i] },
          { addresses: [`198.18.2.${i + 1}/24`, `2001:db8:2::${i + 1}/64`] },
        );
        hv.addVxlan({ name: `seg${i}`, vni: VNI[i], remotes: [peer], remotePort: ep.port });
        ns.push(n);
      }
      hv.addSwitch("seg0", "seg1");
      hv.addSwitch("seg1", "seg0");

      const p4 = await ping(ns[0], "198.18.2.2", { count: 5, interval: 0.1 });
      expect(p4.out).toMatch(/5 packets transmitted, 5 received/);
      const p6 = await ping(ns[1], "2001:db8:2::1", { count: 5, interval: 0.1 });
      expect(p6.out).toMatch(/5 packets transmitted, 5 received/);
      // One segment: each kernel device resolved the other's MAC directly.
      expect(sh("ip", ["-n", ns[0], "neigh", "show", "198.18.2.2"])).toMatch(
        new RegExp(`lladdr ${MAC[1]} `),
      );
      expect(sh("ip", ["-n", ns[1], "-6", "neigh", "show", "2001:db8:2::1"])).toMatch(
        new RegExp(`lladdr ${MAC[0]} `),
      );
      let s = hv.stats().links;
      expect(s.seg0.switchedTo).toBe("seg1");
      expect(s.seg1.switchedTo).toBe("seg0");
      expect(s.seg0.path.switched).toBeGreaterThanOrEqual(10);
      expect(s.seg1.path.switched).toBeGreaterThanOrEqual(10);
      expect(s.seg0.path.drops).toEqual({});
      expect(s.seg1.path.drops).toEqual({});
      expect(s.seg0.path.toRouter).toBe(0);

      hv.removeSwitch("seg0");
      hv.removeSwitch("seg1");
      const unboundBefore = s.seg0.path.drops.unbound ?? 0;
      const gone = await ping(ns[0], "198.18.2.2", { count: 3, interval: 0.1, wait: 1 });
      expect(gone.transmitted).toBe(3);
      expect(gone.received).toBe(0);
      expect(gone.code).not.toBe(0);
      s = hv.stats().links;
      expect(s.seg0.switchedTo).toBeUndefined();
      expect((s.seg0.path.drops.unbound ?? 0) - unboundBefore).toBeGreaterThanOrEqual(3);
      expect(ep.stats().drops).toEqual({});
    });
  },
);
