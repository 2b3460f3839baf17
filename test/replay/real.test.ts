/**
 * Replays of real traffic: a host namespace talks through a kernel router
 * namespace to a server namespace (ping, ping -6, UDP, TCP over both
 * families, a ping with TTL 1), tcpdump captures it on the host's link
 * (Ethernet) and on all its interfaces (Linux cooked), and each capture is
 * replayed through a vroom router configured like the kernel router. The
 * expected verdicts are derived from the captured packets themselves.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseRouterConfig } from "../../router/config.ts";
import { internetChecksum } from "../../router/wire/checksum.ts";
import { CaptureReader, LinkType, PacketIndex } from "../../tools/replay/capture.ts";
import { replay } from "../../tools/replay/engine.ts";
import { isRoot, Lab, runIn, sh, sleep, until } from "../integration/lab.ts";

const hasTcpdump = existsSync("/usr/bin/tcpdump") || existsSync("/usr/sbin/tcpdump");
const canCapture = isRoot && hasTcpdump;
if (!canCapture) {
  console.warn(
    `test/replay/real.test.ts: real-traffic replays skipped: need root (${isRoot}) ` +
      `and tcpdump (${hasTcpdump}; Debian package tcpdump)`,
  );
}

const lab = new Lab("r");
afterEach(() => lab.cleanup());
afterAll(() => lab.sweep());

const ROUTER_MAC = "02:00:5e:30:00:01";
const HOST_MAC = "02:00:5e:30:00:02";

const SERVER = `
import socket, sys, threading
def tcp(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 5001)); s.listen(4)
    while True:
        c, _ = s.accept()
        data = c.recv(100)
        c.sendall(b"pong:" + data)
        c.close()
def udp(family, addr):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((addr, 5002))
    while True:
        data, peer = s.recvfrom(2000)
        s.sendto(b"echo:" + data, peer)
for f, a in ((socket.AF_INET, "198.18.20.2"), (socket.AF_INET6, "2001:db8:20::2")):
    threading.Thread(target=tcp, args=(f, a), daemon=True).start()
    threading.Thread(target=udp, args=(f, a), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
`;

const CLIENT = `
import socket
for f, a in ((socket.AF_INET, "198.18.20.2"), (socket.AF_INET6, "2001:db8:20::2")):
    for i in range(3):
        c = socket.create_connection((a, 5001), timeout=3)
        c.sendall(b"ping%d" % i)
        assert c.recv(100) == b"pong:ping%d" % i
        c.close()
        u = socket.socket(f, socket.SOCK_DGRAM)
        u.settimeout(3)
        u.sendto(b"x" * (100 + i), (a, 5002))
        assert u.recvfrom(2000)[0] == b"echo:" + b"x" * (100 + i)
        u.close()
print("done", flush=True)
`;

interface Captured {
  data: Uint8Array;
}

function readAll(path: string): { linkType: number; packets: Captured[] } {
  const opened = CaptureReader.open(path);
  if (!opened.ok) throw new Error(opened.error.message);
  const r = opened.reader;
  const index = new PacketIndex(4096);
  const packets: Captured[] = [];
  for (let n = r.fill(index); n > 0; n = r.fill(index)) {
    for (let i = 0; i < n; i++) {
      packets.push({ data: r.buf.slice(index.at[i], index.at[i] + index.capLen[i]) });
    }
  }
  if (r.error) throw new Error(r.error.message);
  return { linkType: r.interfaces[0].linkType, packets };
}

/** Whether the IP packet at `p[at]` is bound for the server's subnets with TTL / hop limit left. */
function towardsServer(p: Uint8Array, at: number): boolean {
  if (p[at] >>> 4 === 4)
    return p[at + 16] === 198 && p[at + 17] === 18 && p[at + 18] === 20 && p[at + 8] > 1;
  if (p[at] >>> 4 === 6) {
    const dst = [...p.subarray(at + 24, at + 32)];
    return dst.join(",") === "32,1,13,184,0,32,0,0" && p[at + 7] > 1;
  }
  return false;
}

let work = "";
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "vroom-real-"));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!canCapture)("replaying tcpdump captures of real traffic (root, tcpdump)", () => {
  it("forwards what the kernel router forwarded and answers what it answered", async () => {
    const host = lab.ns();
    const kr = lab.ns();
    const server = lab.ns();
    const hr = lab.veth(host, kr, { a: HOST_MAC, b: ROUTER_MAC });
    const rs = lab.veth(kr, server);
    lab.setup(host, hr.a, {
      addresses: ["198.18.10.2/24", "2001:db8:10::2/64"],
      routes: [
        ["default", "via", "198.18.10.1"],
        ["default", "via", "2001:db8:10::1"],
      ],
    });
    lab.setup(kr, hr.b, { addresses: ["198.18.10.1/24", "2001:db8:10::1/64"] });
    lab.setup(kr, rs.a, { addresses: ["198.18.20.1/24", "2001:db8:20::1/64"] });
    lab.setup(server, rs.b, {
      addresses: ["198.18.20.2/24", "2001:db8:20::2/64"],
      routes: [
        ["default", "via", "198.18.20.1"],
        ["default", "via", "2001:db8:20::1"],
      ],
    });
    sh("ip", [
      "netns",
      "exec",
      kr,
      "sysctl",
      "-qw",
      "net.ipv4.ip_forward=1",
      "net.ipv6.conf.all.forwarding=1",
    ]);
    for (const [ns, dev] of [
      [host, hr.a],
      [kr, hr.b],
      [kr, rs.a],
      [server, rs.b],
    ]) {
      sh("ip", [
        "netns",
        "exec",
        ns,
        "ethtool",
        "-K",
        dev,
        "tso",
        "off",
        "gso",
        "off",
        "gro",
        "off",
      ]);
    }
    const srv = lab.spawnIn(server, "python3", ["-u", "-c", SERVER]);
    let srvOut = "";
    srv.child.stdout?.on("data", (b: Buffer) => {
      srvOut += b.toString();
    });
    await until(() => srvOut.includes("ready"), 5000, "the server");

    const ethFile = join(work, "eth.pcap");
    const anyFile = join(work, "any.pcap");
    const dumps = [
      lab.spawnIn(host, "tcpdump", ["-i", hr.a, "--immediate-mode", "-U", "-n", "-w", ethFile]),
      lab.spawnIn(host, "tcpdump", [
        "-i",
        "any",
        "--immediate-mode",
        "-U",
        "-n",
        "-w",
        anyFile,
        "not",
        "host",
        "127.0.0.1",
        "and",
        "not",
        "host",
        "::1",
      ]),
    ];
    const listening = dumps.map(() => false);
    dumps.forEach((d, i) => {
      d.child.stderr?.on("data", (b: Buffer) => {
        if (b.toString().includes("listening on")) listening[i] = true;
      });
    });
    await until(() => listening.every(Boolean), 5000, "tcpdump");

    expect(
      (await runIn(host, "ping", ["-4", "-n", "-c", "3", "-i", "0.2", "198.18.20.2"])).code,
    ).toBe(0);
    expect(
      (await runIn(host, "ping", ["-6", "-n", "-c", "3", "-i", "0.2", "2001:db8:20::2"])).code,
    ).toBe(0);
    // TTL 1: the kernel router answers time exceeded (ping exits 1).
    await runIn(host, "ping", ["-4", "-n", "-c", "1", "-t", "1", "-W", "1", "198.18.20.2"]);
    const client = await runIn(host, "python3", ["-c", CLIENT]);
    expect(client.out).toContain("done");
    // Immediate mode hands each packet to tcpdump at once; give it a moment to write the last.
    await sleep(300);
    for (const d of dumps) d.child.kill("SIGINT");
    await Promise.all(dumps.map((d) => d.done));

    // --- the Ethernet capture, into an L2 interface with the kernel router's MAC.
    const eth = readAll(ethFile);
    expect(eth.linkType).toBe(LinkType.Ethernet);
    const routerMac = ROUTER_MAC.split(":").map((h) => Number.parseInt(h, 16));
    const toRouter = eth.packets.filter((p) => routerMac.every((b, i) => p.data[i] === b));
    const expected = toRouter.filter((p) => towardsServer(p.data, 14));
    expect(expected.length, sh("tcpdump", ["-r", ethFile, "-n", "-e"])).toBeGreaterThanOrEqual(
      6 + 2 * 3 * 4,
    );
    const cfg = parseRouterConfig({
      name: "vr1",
      interfaces: [
        {
          name: "eth0",
          layer: "l2",
          mac: ROUTER_MAC,
          addresses: ["198.18.10.1/24", "2001:db8:10::1/64"],
        },
        { name: "eth1", layer: "l3", addresses: ["198.18.20.1/24", "2001:db8:20::1/64"] },
      ],
    });
    if (!cfg.ok) throw new Error(cfg.errors.join("; "));
    const out1 = join(work, "out-eth");
    const r1 = replay({ config: cfg.config, input: ethFile, outDir: out1 });
    if (!r1.ok) throw new Error(r1.error);
    const s1 = r1.summary;
    expect(s1.error).toBeUndefined();
    expect(s1.packets).toBe(eth.packets.length);
    expect(s1.interfaces.eth1.forwarded).toBe(expected.length);
    // The router's own answers: ARP replies or NAs to the host's solicitations, time exceeded for TTL 1.
    expect(s1.dropReasons["ttl-expired"]).toBe(1);
    expect(s1.interfaces.eth0.icmpErrors).toBe(1);
    // Frames the kernel router sent to the host are not addressed to this router.
    expect(s1.dropReasons["not-for-us"]).toBeGreaterThanOrEqual(
      eth.packets.length - toRouter.length - 10,
    );
    // What left eth1 is what came in, TTL / hop limit one lower, IPv4 checksums still right.
    const fwd = readAll(join(out1, "eth1.pcap"));
    expect(fwd.linkType).toBe(LinkType.Raw);
    expect(fwd.packets.length).toBe(expected.length);
    fwd.packets.forEach((p, i) => {
      const original = expected[i].data.subarray(14);
      const v4 = p.data[0] >>> 4 === 4;
      expect(p.data.length).toBe(
        v4 ? (original[2] << 8) | original[3] : 40 + ((original[4] << 8) | original[5]),
      );
      expect(p.data[v4 ? 8 : 7]).toBe(original[v4 ? 8 : 7] - 1);
      if (v4) expect(internetChecksum(p.data, 0, 20)).toBe(0);
      expect([...p.data.subarray(v4 ? 12 : 8)]).toEqual([
        ...original.subarray(v4 ? 12 : 8, p.data.length),
      ]);
    });
    const sh0 = sh("tcpdump", ["-r", join(out1, "eth0.pcap"), "-n", "-e"]);
    expect(sh0).toMatch(/198\.18\.10\.1 > 198\.18\.10\.2: ICMP time exceeded in-transit/);
    expect(sh("tcpdump", ["-r", join(out1, "eth1.pcap"), "-n"])).toMatch(
      /IP6 2001:db8:10::2\.\d+ > 2001:db8:20::2\.5001: Flags \[S\]/,
    );

    // --- the cooked capture (every interface of the host), into an L3 interface.
    const any = readAll(anyFile);
    expect([LinkType.LinuxSll, LinkType.LinuxSll2]).toContain(any.linkType);
    const cfg3 = parseRouterConfig({
      name: "vr3",
      interfaces: [
        { name: "eth0", layer: "l3", addresses: ["198.18.10.1/24", "2001:db8:10::1/64"] },
        { name: "eth1", layer: "l3", addresses: ["198.18.20.1/24", "2001:db8:20::1/64"] },
      ],
    });
    if (!cfg3.ok) throw new Error(cfg3.errors.join("; "));
    const r3 = replay({ config: cfg3.config, input: anyFile, outDir: join(work, "out-any") });
    if (!r3.ok) throw new Error(r3.error);
    const s3 = r3.summary;
    const hl = any.linkType === LinkType.LinuxSll ? 16 : 20;
    const protoAt = any.linkType === LinkType.LinuxSll ? 14 : 0;
    const ip = any.packets.filter((p) => {
      const t = (p.data[protoAt] << 8) | p.data[protoAt + 1];
      return t === 0x0800 || t === 0x86dd;
    });
    expect(s3.injected).toBe(ip.length);
    expect(s3.skipReasons["not-ip"] ?? 0).toBe(any.packets.length - ip.length);
    expect(s3.interfaces.eth1.forwarded).toBe(ip.filter((p) => towardsServer(p.data, hl)).length);
    expect(s3.dropReasons["ttl-expired"]).toBe(1);
  });
});
