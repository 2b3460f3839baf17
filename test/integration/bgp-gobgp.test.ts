/**
 * BGP-4 between a vroom router and a real GoBGP, and against a raw BGP
 * speaker scripted in Python that sends malformed messages, over the
 * router's own userspace TCP on the real kernel.
 *
 * Namespace `peer` holds gobgpd (AS 65003) behind the router's TUN
 * interface `g`; GoBGP opens one session (the router is passive),
 * carrying IPv4 and IPv6 (multiprotocol, RFC 4760), and waits for the
 * router to open another, between second addresses on both ends. Routes GoBGP
 * originates, with communities (RFC 1997) and large communities (RFC 8092),
 * reach the router's RIB and FIB; the router's redistributed subnet reaches
 * GoBGP's table with the router's AS; withdrawals go both ways.
 *
 * The same namespace runs the raw speaker from a second address: after a
 * proper OPEN/KEEPALIVE exchange it sends UPDATEs that RFC 7606 says to
 * treat as withdraw (an invalid ORIGIN, a bad NEXT_HOP length) and one it
 * says must reset the session (attribute lengths overrunning the message),
 * and reports the NOTIFICATION it gets; then fuzzed messages. The router
 * answers each as the RFC says, keeps its other sessions and keeps
 * forwarding.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { GobgpPeer, gobgpConfig } from "../../tools/peers/gobgp.ts";
import { canRun, Lab, ping, runIn, sh, until, warnIfSkipped } from "./lab.ts";

warnIfSkipped("test/integration/bgp-gobgp.test.ts");
const hasGobgp = (() => {
  try {
    sh("gobgpd", ["--version"]);
    return true;
  } catch {
    return false;
  }
})();
if (canRun && !hasGobgp) {
  console.warn(
    "test/integration/bgp-gobgp.test.ts: skipped: gobgpd is not installed (bash tools/setup.sh)",
  );
}

const lab = new Lab("o");

const ROUTER = {
  name: "vr2",
  interfaces: [
    {
      name: "g",
      layer: "l3",
      addresses: ["198.18.4.1/24", "198.18.4.5/24", "2001:db8:4::1/64"],
    },
    { name: "h", layer: "l3", addresses: ["198.18.5.1/24", "2001:db8:5::1/64"] },
  ],
  bgp: {
    asn: 65001,
    routerId: "198.18.255.2",
    connectRetryTime: 1,
    idleHoldTime: 1,
    prefixLists: { hosts: [{ prefix: "198.18.5.0/24" }, { prefix: "2001:db8:5::/64" }] },
    policies: {
      "host-subnets": { terms: [{ match: { prefixList: "hosts" }, action: "accept" }] },
    },
    redistribute: [{ source: "connected", policy: "host-subnets" }],
    neighbors: [
      {
        address: "198.18.4.2",
        asn: 65003,
        passive: true,
        families: ["ipv4", "ipv6"],
        nextHop6: "2001:db8:4::1",
        import: "accept",
        export: "accept",
      },
      {
        // The router opens this one: GoBGP waits (passive) on a second address pair.
        address: "198.18.4.6",
        localAddress: "198.18.4.5",
        asn: 65003,
        families: ["ipv4"],
        import: "accept",
        export: "accept",
      },
      {
        address: "198.18.4.3",
        asn: 65004,
        passive: true,
        families: ["ipv4"],
        import: "accept",
        export: "reject",
      },
    ],
  },
};

/** A raw BGP speaker: OPEN, KEEPALIVE, then the UPDATE named on the command line. */
const RAW = String.raw`
import socket, struct, sys, os, random
peer, case = sys.argv[1], sys.argv[2]
def msg(t, body): return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), t) + body
def attr(flags, code, value):
    if flags & 0x10: return struct.pack("!BBH", flags, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value
def update(attrs, nlri): return msg(2, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + nlri)
caps = bytes([2, 6, 1, 4, 0, 1, 0, 1]) + bytes([2, 6, 65, 4]) + struct.pack("!I", 65004)
opn = msg(1, struct.pack("!BHH4sB", 4, 65004, 9, socket.inet_aton("198.18.4.3"), len(caps)) + caps)
s = socket.create_connection((peer, 179), timeout=5, source_address=("198.18.4.3", 0))
def read():
    h = b""
    while len(h) < 19:
        c = s.recv(19 - len(h))
        if not c: return None
        h += c
    n, t = struct.unpack("!HB", h[16:19])
    b = b""
    while len(b) < n - 19:
        c = s.recv(n - 19 - len(b))
        if not c: return None
        b += c
    return t, b
s.sendall(opn)
t, b = read()
assert t == 1, t
s.sendall(msg(4, b""))
while True:
    t, b = read()
    if t == 4: break
nlri = bytes([24, 198, 19, 9])
good = attr(0x40, 1, b"\x00") + attr(0x40, 2, bytes([2, 1]) + struct.pack("!I", 65004)) + attr(0x40, 3, socket.inet_aton("198.18.4.3"))
if case == "good":
    s.sendall(update(good, nlri))
elif case == "bad-origin":
    s.sendall(update(good, nlri))
    s.sendall(update(attr(0x40, 1, b"\x07") + good[4:], nlri))
elif case == "bad-nexthop-length":
    s.sendall(update(good, nlri))
    s.sendall(update(good[:-7] + attr(0x40, 3, b"\xc6\x12\x04"), nlri))
elif case == "overrun":
    body = struct.pack("!H", 0) + struct.pack("!H", len(good) + 40) + good + nlri
    s.sendall(msg(2, body))
elif case == "fuzz":
    rng = random.Random(int(sys.argv[3]))
    base = bytearray(update(good, nlri))
    for _ in range(rng.randint(1, 6)):
        base[rng.randrange(19, len(base))] = rng.randrange(256)
    s.sendall(bytes(base))
s.sendall(msg(4, b""))
import time
end = time.time() + 1.5
out = []
try:
    while True:
        left = end - time.time()
        if left <= 0: raise socket.timeout()
        s.settimeout(left)
        r = read()
        if r is None: out.append("closed"); break
        t, b = r
        if t == 3: out.append("notification %d %d" % (b[0], b[1])); 
        elif t == 2: out.append("update")
        elif t == 4: out.append("keepalive")
except socket.timeout:
    out.append("quiet")
print(" ".join(out), flush=True)
`;

describe.skipIf(!canRun || !hasGobgp)(
  "BGP with GoBGP and a raw speaker (root, real kernel)",
  () => {
    let hv: Hypervisor;
    let router: VirtualRouter;
    let peerNs: string;
    let hostNs: string;
    let gobgp: GobgpPeer;
    let dir: string;

    const neighbor = (name: string) => router.bgp!.neighbors().find((n) => n.name === name)!;
    const bgpRoute = (family: 4 | 6, prefix: string) =>
      [...router.bgp!.routes(family)].find((r) => r.prefix === prefix);
    const inRib = (family: 4 | 6, prefix: string) =>
      [...router.rib.routes()].some(
        (r) => r.family === family && r.prefix === prefix && r.best.source === "bgp",
      );

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "vroom-bgp-gobgp-"));
      try {
        hv = lab.hypervisor();
        router = lab.router(hv, ROUTER);
        peerNs = lab.ns();
        hostNs = lab.ns();
        const g = hv.addTun({ device: lab.dev("g"), up: false });
        lab.moveIn(g.device, peerNs);
        lab.setup(peerNs, g.device, {
          addresses: ["198.18.4.2/24", "198.18.4.3/24", "198.18.4.6/24", "2001:db8:4::2/64"],
          routes: [
            ["198.18.5.0/24", "via", "198.18.4.1"],
            ["2001:db8:5::/64", "via", "2001:db8:4::1"],
          ],
        });
        sh("ip", ["-n", peerNs, "addr", "add", "198.19.4.1/24", "dev", "lo"]);
        sh("ip", ["-n", peerNs, "addr", "add", "2001:db8:104::1/48", "dev", "lo"]);
        hv.bind("vr2", 0, g.name);
        const h = hv.addTun({ device: lab.dev("h"), up: false });
        lab.moveIn(h.device, hostNs);
        lab.setup(hostNs, h.device, {
          addresses: ["198.18.5.2/24", "2001:db8:5::2/64"],
          routes: [
            ["default", "dev", h.device],
            ["2001:db8::/32", "dev", h.device],
          ],
        });
        hv.bind("vr2", 1, h.name);
        gobgp = await GobgpPeer.start(
          peerNs,
          dir,
          gobgpConfig({
            routerId: "198.18.4.2",
            as: 65003,
            neighbors: [
              {
                address: "198.18.4.1",
                as: 65001,
                localAddress: "198.18.4.2",
                families: ["ipv4-unicast", "ipv6-unicast"],
              },
              {
                address: "198.18.4.5",
                as: 65001,
                localAddress: "198.18.4.6",
                passive: true,
                families: ["ipv4-unicast"],
              },
            ],
          }),
        );
      } catch (e) {
        lab.cleanup();
        throw e;
      }
    });
    afterAll(async () => {
      try {
        await gobgp?.stop();
        lab.cleanup();
      } finally {
        lab.sweep();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("GoBGP opens the session; its IPv4 and IPv6 routes, with communities, are installed and used", async () => {
      await gobgp.established("198.18.4.1");
      await until(() => neighbor("198.18.4.2").state === "Established", 10_000, "vroom's side");
      expect(neighbor("198.18.4.2").connections.every((c) => !c.outgoing)).toBe(true);
      await gobgp.announce("198.19.4.0/24", "198.18.4.2", [
        "community",
        "65003:100",
        "large-community",
        "65003:1:2",
      ]);
      await gobgp.announce("2001:db8:104::/48", "2001:db8:4::2");
      await until(
        () => inRib(4, "198.19.4.0/24") && inRib(6, "2001:db8:104::/48"),
        10_000,
        "routes",
      );
      const r = bgpRoute(4, "198.19.4.0/24")!;
      expect(r.asPath).toBe("65003");
      expect(r.communities).toContain("65003:100");
      expect(r.largeCommunities).toContain("65003:1:2");
      expect(bgpRoute(6, "2001:db8:104::/48")?.nextHop).toBe("2001:db8:4::2");
      const p4 = await ping(hostNs, "198.19.4.1", { count: 3, interval: 0.2 });
      expect(p4.out).toMatch(/3 packets transmitted, 3 received/);
      const p6 = await ping(hostNs, "2001:db8:104::1", { count: 3, interval: 0.2 });
      expect(p6.out).toMatch(/3 packets transmitted, 3 received/);
    });

    it("the router opens a session to a passive GoBGP", async () => {
      const n = await gobgp.established("198.18.4.5");
      expect(n.state).toBe("established");
      await until(() => neighbor("198.18.4.6").state === "Established", 10_000, "vroom's side");
      expect(neighbor("198.18.4.6").connections.some((c) => c.outgoing)).toBe(true);
    });

    it("GoBGP's table holds the router's routes with its AS; withdrawals go both ways", async () => {
      await until(() => neighbor("198.18.4.2").state === "Established", 10_000, "session");
      let rib4 = await gobgp.rib("ipv4");
      for (let i = 0; i < 50 && !rib4["198.18.5.0/24"]; i++) {
        await new Promise((r) => setTimeout(r, 100));
        rib4 = await gobgp.rib("ipv4");
      }
      const path = rib4["198.18.5.0/24"]?.[0];
      expect(path, JSON.stringify(rib4)).toBeDefined();
      expect(JSON.stringify(path.attrs)).toContain("65001");
      const rib6 = await gobgp.rib("ipv6");
      expect(rib6["2001:db8:5::/64"]).toBeDefined();
      await gobgp.withdraw("198.19.4.0/24");
      await until(() => !inRib(4, "198.19.4.0/24"), 10_000, "the withdrawal");
      expect(neighbor("198.18.4.2").withdrawalsReceived).toBeGreaterThan(0);
    });

    const raw = (kind: string, seed = 0) =>
      runIn(peerNs, "python3", ["-c", RAW, "198.18.4.1", kind, String(seed)], 20_000);

    it("treats an UPDATE with an invalid ORIGIN as a withdrawal (RFC 7606 7.1), session kept", async () => {
      const before = neighbor("198.18.4.3").treatAsWithdraw;
      const r = await raw("bad-origin");
      expect(r.out).not.toMatch(/notification/);
      await until(() => neighbor("198.18.4.3").treatAsWithdraw > before, 5000, "treat-as-withdraw");
      expect(inRib(4, "198.19.9.0/24")).toBe(false);
    });

    it("treats a NEXT_HOP of the wrong length as a withdrawal (RFC 7606 7.3)", async () => {
      const before = neighbor("198.18.4.3").treatAsWithdraw;
      const r = await raw("bad-nexthop-length");
      expect(r.out).not.toMatch(/notification/);
      await until(() => neighbor("198.18.4.3").treatAsWithdraw > before, 5000, "treat-as-withdraw");
    });

    it("resets the session with UPDATE Message Error / Malformed Attribute List when lengths overrun (RFC 7606 4)", async () => {
      const r = await raw("overrun");
      expect(r.out).toMatch(/notification 3 1/);
    });

    it("survives fuzzed UPDATEs: every answer is a NOTIFICATION or acceptance, other sessions stay up", async () => {
      const answers: string[] = [];
      for (let seed = 1; seed <= 12; seed++) {
        const r = await raw("fuzz", seed);
        expect(r.code, r.out).toBe(0);
        answers.push(r.out.trim());
      }
      for (const a of answers)
        expect(a).toMatch(/^(notification \d+ \d+|update|keepalive|quiet|closed)/);
      expect(neighbor("198.18.4.2").state).toBe("Established");
      expect(neighbor("198.18.4.2").flaps).toBe(0);
      const p = await ping(hostNs, "198.18.4.2", { count: 2, interval: 0.2 });
      expect(p.out).toMatch(/2 packets transmitted, 2 received/);
    }, 120_000);
  },
);
