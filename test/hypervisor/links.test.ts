/**
 * Substrate links against the real kernel: a TUN link and a TAP link each
 * moved into a network namespace that pings a fake echo router through the
 * hypervisor; a VXLAN link talking to a kernel `vxlan` device (RFC 7348) in a
 * namespace behind a veth pair, with learning both ways; two kernel vxlan
 * segments joined by local switching (DESIGN.md Figure 2); and, over
 * loopback, VXLAN flooding, learning, bad datagrams, batches mixing VNIs and
 * batches without headroom.
 *
 * Each test makes its own namespaces (vrl-<pid>-<n>) and devices (vrl<id>...)
 * and afterEach removes them, and closes every hypervisor, whatever happened;
 * afterAll sweeps anything left with this run's prefix. Addresses: only
 * 198.18.0.0/15 (198.19.x here) and 2001:db8::/32. The kernel tests need root
 * and /dev/net/tun and are skipped with a message otherwise; the loopback
 * ones need only the native addon.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Hypervisor } from "../../hypervisor/hypervisor.ts";
import { VxlanEndpoint, type VxlanLink } from "../../hypervisor/links/vxlan.ts";
import { ipv4ToUint32, nativeAvailable, UdpSocket } from "../../hypervisor/native.ts";
import { PacketArena } from "../../router/batch.ts";
import { EchoRouter, ForwardRouter, fillBatch, L2EchoRouter, packetsOf } from "./fakes.ts";

const isRoot = process.getuid?.() === 0;
const hasTun = existsSync("/dev/net/tun");
const hasNative = nativeAvailable();
const canRunKernel = isRoot && hasTun && hasNative;
if (!canRunKernel) {
  console.warn(
    `test/hypervisor/links.test.ts: kernel tests skipped: need root (${isRoot}), /dev/net/tun (${hasTun}) and the native addon (${hasNative})`,
  );
}

// ---------------------------------------------------------------- cleanup

const PREFIX = `vrl-${process.pid}-`;
const ID = process.pid % 10000;
let cleanups: (() => void)[] = [];
let counter = 0;

afterEach(() => {
  const errors: unknown[] = [];
  for (const fn of cleanups.reverse()) {
    try {
      fn();
    } catch (e) {
      errors.push(e);
    }
  }
  cleanups = [];
  if (errors.length > 0) throw errors[0];
});

afterAll(() => {
  if (!canRunKernel) return;
  for (const line of sh("ip", ["netns", "list"]).split("\n")) {
    const ns = line.split(" ")[0];
    if (ns.startsWith(PREFIX)) sh("ip", ["netns", "del", ns]);
  }
  for (const line of sh("ip", ["-o", "link"]).split("\n")) {
    const name = line.split(": ")[1]?.split("@")[0];
    if (name?.startsWith(`vrl${ID}`)) sh("ip", ["link", "del", name]);
  }
});

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Runs a command without blocking the event loop (the hypervisor must answer meanwhile). */
function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8", timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, out: stdout + stderr });
    });
  });
}

function newNs(): string {
  const ns = `${PREFIX}${++counter}`;
  sh("ip", ["netns", "add", ns]);
  cleanups.push(() => sh("ip", ["netns", "del", ns]));
  sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
  return ns;
}

/** A device name of this run (at most 15 characters). */
function devName(tag: string): string {
  return `vrl${ID}${tag}${++counter}`;
}

/** A veth pair: `root` in this namespace with `rootAddr`, its peer in `ns` with `nsAddr`. */
function veth(ns: string, rootAddr: string, nsAddr: string): { root: string; peer: string } {
  const root = devName("a");
  const peer = devName("b");
  sh("ip", ["link", "add", root, "type", "veth", "peer", "name", peer, "netns", ns]);
  cleanups.push(() => {
    if (existsSync(`/sys/class/net/${root}`)) sh("ip", ["link", "del", root]);
  });
  sh("ip", ["addr", "add", rootAddr, "dev", root]);
  sh("ip", ["link", "set", root, "up"]);
  sh("ip", ["-n", ns, "addr", "add", nsAddr, "dev", peer]);
  sh("ip", ["-n", ns, "link", "set", peer, "up"]);
  return { root, peer };
}

/** A kernel vxlan device in `ns` pointed at `remote` (the all-zero fdb entry). */
function kernelVxlan(
  ns: string,
  dev: string,
  vni: number,
  local: string,
  remote: string,
  mac: string,
  addr: string,
): string {
  const name = `vx${vni}`;
  sh("ip", [
    "-n",
    ns,
    "link",
    "add",
    name,
    "type",
    "vxlan",
    "id",
    String(vni),
    "local",
    local,
    "remote",
    remote,
    "dstport",
    "4789",
    "dev",
    dev,
  ]);
  sh("ip", ["-n", ns, "link", "set", name, "address", mac]);
  sh("ip", ["-n", ns, "addr", "add", addr, "dev", name, "nodad"]);
  sh("ip", ["-n", ns, "link", "set", name, "up"]);
  return name;
}

/**
 * UDP in python3: "send dst port n gap" sends datagrams "0".."n-1", `gap`
 * seconds apart; "recv addr port idle" prints "ready", then, after `idle`
 * seconds without a datagram, the sequence numbers it received, in order.
 */
const PY_UDP = `
import socket, sys, time
mode = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if mode == "send":
    dst, port, n, gap = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    for i in range(n):
        s.sendto(b"%d" % i, (dst, port))
        if gap > 0: time.sleep(gap)
else:
    addr, port, idle = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)  # SO_RCVBUFFORCE
    s.bind((addr, port))
    print("ready", flush=True)
    got = []
    s.settimeout(idle)
    while True:
        try:
            data, _ = s.recvfrom(100)
        except socket.timeout:
            break
        got.append(data.decode())
    print(" ".join(got), flush=True)
`;

interface Py {
  child: ChildProcess;
  ready: Promise<void>;
  done: Promise<string>;
}

function udpInNs(ns: string, args: (string | number)[]): Py {
  const child = spawn("ip", ["netns", "exec", ns, "python3", "-c", PY_UDP, ...args.map(String)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanups.push(() => child.kill());
  let out = "";
  let err = "";
  let onReady = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  child.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
    if (out.startsWith("ready\n")) onReady();
  });
  child.stderr?.on("data", (b: Buffer) => {
    err += b.toString();
  });
  const done = new Promise<string>((resolve, reject) => {
    child.on("exit", (code) =>
      code === 0
        ? resolve(out.replace(/^ready\n/, ""))
        : reject(new Error(`python3 exited ${code}: ${err}`)),
    );
  });
  return { child, ready, done };
}

/** A TUN link moved into `ns` with `addr`, and a route to `peerNet` through it. */
function tunIn(hv: Hypervisor, ns: string, addr: string, peerNet: string) {
  const tun = hv.addTun({ device: devName("t") });
  sh("ip", ["link", "set", "dev", tun.device, "netns", ns]);
  sh("ip", ["-n", ns, "addr", "add", addr, "dev", tun.device]);
  sh("ip", ["-n", ns, "link", "set", tun.device, "up"]);
  sh("ip", ["-n", ns, "route", "add", peerNet, "dev", tun.device]);
  return tun;
}

function hypervisor(): Hypervisor {
  const hv = new Hypervisor({ arenaBytes: 4 << 20 });
  cleanups.push(() => hv.close());
  return hv;
}

/**
 * ICMP echo from inside `ns` (RFC 792), in python3 over a raw socket, as
 * iputils-ping is not among the packages tools/setup.sh installs. Prints
 * ping's summary line and exits 0 when every echo was answered in time.
 */
const PY_PING = `
import os, socket, struct, sys, time
dst, count, interval, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def csum(b):
    if len(b) % 2: b += b"\\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xffff
received = 0
for seq in range(count):
    payload = b"vroom ping %d " % seq + bytes(40)
    c = csum(struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload)
    s.sendto(struct.pack("!BBHHH", 8, 0, c, ident, seq) + payload, (dst, 0))
    deadline = time.time() + wait
    while True:
        left = deadline - time.time()
        if left <= 0: break
        s.settimeout(left)
        try:
            data, peer = s.recvfrom(4096)
        except socket.timeout:
            break
        icmp = data[(data[0] & 15) * 4:]
        t, _, _, i, q = struct.unpack("!BBHHH", icmp[:8])
        if t == 0 and i == ident and q == seq and peer[0] == dst and icmp[8:] == payload and csum(icmp) == 0:
            received += 1
            break
    time.sleep(interval)
print("%d packets transmitted, %d received" % (count, received), flush=True)
sys.exit(0 if received == count else 1)
`;

async function ping(ns: string, address: string, count = 3): Promise<string> {
  const { code, out } = await run("ip", [
    "netns",
    "exec",
    ns,
    "python3",
    "-c",
    PY_PING,
    address,
    String(count),
    "0.2",
    "2",
  ]);
  expect(out, out).toMatch(new RegExp(`${count} packets transmitted, ${count} received`));
  expect(code).toBe(0);
  return out;
}

function linkJson(ns: string, dev: string): { mtu: number; txqlen: number; address: string } {
  return JSON.parse(sh("ip", ["-n", ns, "-j", "link", "show", "dev", dev]))[0];
}

function macNumber(text: string): number {
  return Number.parseInt(text.replaceAll(":", ""), 16);
}

// ---------------------------------------------------------------- kernel

describe.skipIf(!canRunKernel)("substrate links against the kernel (root)", () => {
  it("TUN link: a namespace pings an echo router through the hypervisor", async () => {
    const hv = hypervisor();
    const ns = newNs();
    const tun = hv.addTun({ device: devName("t"), mtu: 1400 });
    expect(tun.layer).toBe("l3");
    sh("ip", ["link", "set", "dev", tun.device, "netns", ns]);
    sh("ip", ["-n", ns, "addr", "add", "198.19.1.1/24", "dev", tun.device]);
    sh("ip", ["-n", ns, "link", "set", tun.device, "up"]);
    expect(linkJson(ns, tun.device)).toMatchObject({ mtu: 1400, txqlen: 10000 });

    const echo = new EchoRouter("echo", 1, "l3");
    hv.addRouter(echo);
    hv.bind("echo", 0, tun.name);
    await ping(ns, "198.19.1.2");
    expect(echo.echoed).toBeGreaterThanOrEqual(3);
    const s = hv.stats().links[tun.name];
    expect(s.path.toRouter).toBeGreaterThanOrEqual(3);
    expect(s.path.txPackets).toBe(echo.echoed);
    expect(s.link.txPackets).toBe(echo.echoed);
    expect(s.link.drops["tx-full"] ?? 0).toBe(0);
  });

  it("rebinds a TUN interface to another TUN while a UDP stream flows through: none lost, in order", async () => {
    const hv = hypervisor();
    const [ns1, ns2, ns3] = [newNs(), newNs(), newNs()];
    const t1 = tunIn(hv, ns1, "198.19.3.1/24", "198.19.4.0/24");
    const t2 = tunIn(hv, ns2, "198.19.4.1/24", "198.19.3.0/24");
    const t3 = tunIn(hv, ns3, "198.19.4.1/24", "198.19.3.0/24"); // the same address, elsewhere
    const fw = new ForwardRouter("fw", 2, { 0: 1 });
    hv.addRouter(fw);
    hv.bind("fw", 0, t1.name);
    hv.bind("fw", 1, t2.name);
    const rx2 = udpInNs(ns2, ["recv", "198.19.4.1", 9000, 1.5]);
    const rx3 = udpInNs(ns3, ["recv", "198.19.4.1", 9000, 1.5]);
    await Promise.all([rx2.ready, rx3.ready]);
    const n = 3000;
    const tx = udpInNs(ns1, ["send", "198.19.4.1", 9000, n, 0.0001]);
    await until(() => fw.received[0].length >= n / 2, 10_000);
    hv.rebind("fw", 1, t3.name);
    await tx.done;
    const got2 = (await rx2.done).trim().split(" ").filter(Boolean).map(Number);
    const got3 = (await rx3.done).trim().split(" ").filter(Boolean).map(Number);
    const k = got2.length;
    expect(k).toBeGreaterThan(0);
    expect(got3.length).toBeGreaterThan(0);
    expect(got2).toEqual(Array.from({ length: k }, (_, i) => i));
    expect(got3).toEqual(Array.from({ length: n - k }, (_, i) => k + i));
    const s = hv.stats().links;
    // The router saw each datagram once (and maybe the namespace's own IPv6 chatter).
    const udp = fw.received[0].filter((p) => p[0] === 0x45 && p[9] === 17);
    expect(udp.length).toBe(n);
    expect(s[t2.name].link.txPackets + s[t3.name].link.txPackets).toBe(fw.received[0].length);
    expect(s[t1.name].path.drops).toEqual({});
  });

  it("TAP link: ARP and ping in Ethernet frames", async () => {
    const hv = hypervisor();
    const ns = newNs();
    const tap = hv.addTap({ device: devName("p"), mac: Uint8Array.of(2, 0, 0x5e, 0, 0x53, 0x0a) });
    expect(tap.layer).toBe("l2");
    sh("ip", ["link", "set", "dev", tap.device, "netns", ns]);
    sh("ip", ["-n", ns, "addr", "add", "198.19.2.1/24", "dev", tap.device, "nodad"]);
    sh("ip", ["-n", ns, "link", "set", tap.device, "up"]);
    expect(linkJson(ns, tap.device)).toMatchObject({ address: "02:00:5e:00:53:0a", txqlen: 10000 });

    const echo = new L2EchoRouter(
      "echo",
      macNumber("02:00:5e:00:53:0b"),
      ipv4ToUint32("198.19.2.2"),
    );
    hv.addRouter(echo);
    hv.bind("echo", 0, tap.name);
    await ping(ns, "198.19.2.2");
    expect(echo.arps).toBeGreaterThanOrEqual(1);
    expect(echo.echoed).toBeGreaterThanOrEqual(3);
    expect(sh("ip", ["-n", ns, "neigh", "show", "198.19.2.2"])).toMatch(/lladdr 02:00:5e:00:53:0b/);
  });

  it("VXLAN link <-> a kernel vxlan device: ARP flooded, ping answered, MACs learned both ways", async () => {
    const hv = hypervisor();
    const ns = newNs();
    const v = veth(ns, "198.19.100.1/30", "198.19.100.2/30");
    const vx = kernelVxlan(
      ns,
      v.peer,
      42,
      "198.19.100.2",
      "198.19.100.1",
      "02:00:5e:00:53:42",
      "198.19.101.2/24",
    );
    const ep = hv.openVxlanEndpoint({ address: "198.19.100.1" });
    expect(ep.port).toBe(4789);
    const link = hv.addVxlan({ name: "vx42", vni: 42, remotes: ["198.19.100.2"] });
    const echo = new L2EchoRouter(
      "echo",
      macNumber("02:00:5e:00:53:01"),
      ipv4ToUint32("198.19.101.1"),
    );
    hv.addRouter(echo);
    hv.bind("echo", 0, "vx42");

    await ping(ns, "198.19.101.1");
    expect(echo.arps).toBeGreaterThanOrEqual(1);
    expect(echo.echoed).toBeGreaterThanOrEqual(3);
    // We learned the kernel device's MAC at its VTEP; the kernel learned ours at ours.
    expect(link.learned()).toContainEqual({
      mac: macNumber("02:00:5e:00:53:42"),
      vtep: "198.19.100.2",
    });
    expect(sh("bridge", ["-n", ns, "fdb", "show", "dev", vx])).toMatch(
      /02:00:5e:00:53:01 dst 198\.19\.100\.1/,
    );
    const s = link.stats();
    expect(s.rxPackets).toBeGreaterThanOrEqual(4);
    expect(s.txPackets).toBe(echo.arps + echo.echoed);
    expect(ep.stats().drops).toEqual({});
  });

  it("local switching joins two kernel vxlan segments (VNI 42 <-> 43) without a router", async () => {
    const hv = hypervisor();
    const nsA = newNs();
    const nsB = newNs();
    const va = veth(nsA, "198.19.110.1/30", "198.19.110.2/30");
    const vb = veth(nsB, "198.19.111.1/30", "198.19.111.2/30");
    kernelVxlan(
      nsA,
      va.peer,
      42,
      "198.19.110.2",
      "198.19.110.1",
      "02:00:5e:00:53:a1",
      "198.19.112.1/24",
    );
    kernelVxlan(
      nsB,
      vb.peer,
      43,
      "198.19.111.2",
      "198.19.111.1",
      "02:00:5e:00:53:b1",
      "198.19.112.2/24",
    );
    hv.openVxlanEndpoint(); // 0.0.0.0:4789
    hv.addVxlan({ name: "a", vni: 42, remotes: ["198.19.110.2"] });
    hv.addVxlan({ name: "b", vni: 43, remotes: ["198.19.111.2"] });
    hv.addSwitch("a", "b");
    hv.addSwitch("b", "a");
    await ping(nsA, "198.19.112.2");
    const s = hv.stats().links;
    expect(s.a.path.switched).toBeGreaterThanOrEqual(4); // ARP request + 3 echo requests
    expect(s.b.path.switched).toBeGreaterThanOrEqual(4);
    expect(s.a.path.drops).toEqual({});
    expect(s.a.switchedTo).toBe("b");
  });
});

// ---------------------------------------------------------------- loopback

const arena = new PacketArena(4 << 20);
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

/** An Ethernet frame dst <- src carrying `seq` in a 4-byte payload after the header. */
function frame(dst: number[], src: number[], seq: number, size = 60): Uint8Array {
  const f = new Uint8Array(size);
  f.set(dst, 0);
  f.set(src, 6);
  f.set([0x88, 0xb5], 12); // local experimental EtherType
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}

function frameSeq(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset).getUint32(14);
}

function endpoint(address = "127.0.0.1", port = 0): VxlanEndpoint {
  const ep = new VxlanEndpoint({ arena, address, port });
  cleanups.push(() => ep.close());
  return ep;
}

/** Frames a link receives (copies), in order. */
function collect(link: VxlanLink): Uint8Array[] {
  const got: Uint8Array[] = [];
  link.onReceive((b) => got.push(...packetsOf(b)));
  return got;
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe.skipIf(!hasNative)("VXLAN over loopback", () => {
  const macA = [2, 0, 0x5e, 0, 0x53, 0xa0];
  const macB = [2, 0, 0x5e, 0, 0x53, 0xb0];
  const macC = [2, 0, 0x5e, 0, 0x53, 0xc0];
  const unknown = [2, 0, 0x5e, 0, 0x53, 0xee];

  it("floods to every remote, learns, and sends to a learned VTEP only", async () => {
    const a = endpoint("127.0.0.1");
    const b = endpoint("127.0.0.2");
    const c = endpoint("127.0.0.3", b.port);
    const la = a.link({
      name: "a",
      vni: 7,
      remotes: ["127.0.0.2", "127.0.0.3"],
      remotePort: b.port,
    });
    const lb = b.link({ name: "b", vni: 7, remotes: ["127.0.0.1"], remotePort: a.port });
    const lc = c.link({ name: "c", vni: 7, remotes: ["127.0.0.1"], remotePort: a.port });
    expect(la.remotes()).toEqual(["127.0.0.2", "127.0.0.3"]);
    const gotA = collect(la);
    const gotB = collect(lb);
    const gotC = collect(lc);
    const batch = arena.batch(8);
    batch.headroom = 8;

    la.send(fillBatch(batch, [frame(BROADCAST, macA, 1)]));
    await until(() => gotB.length === 1 && gotC.length === 1);
    expect(gotB[0]).toEqual(frame(BROADCAST, macA, 1));
    lb.send(fillBatch(batch, [frame(macA, macB, 2)]));
    await until(() => gotA.length === 1);
    lc.send(fillBatch(batch, [frame(macA, macC, 6)]));
    await until(() => gotA.length === 2);
    expect(la.learned()).toEqual([
      { mac: macNumber("02:00:5e:00:53:b0"), vtep: "127.0.0.2" },
      { mac: macNumber("02:00:5e:00:53:c0"), vtep: "127.0.0.3" },
    ]);
    expect(lb.learned()).toEqual([{ mac: macNumber("02:00:5e:00:53:a0"), vtep: "127.0.0.1" }]);

    la.send(
      fillBatch(batch, [frame(macB, macA, 3), frame(unknown, macA, 4), frame(macC, macA, 5)]),
    );
    await until(() => gotB.length === 3 && gotC.length === 3);
    await settle();
    expect(gotB.map(frameSeq)).toEqual([1, 3, 4]);
    expect(gotC.map(frameSeq)).toEqual([1, 4, 5]);
    expect(la.stats()).toMatchObject({ txPackets: 4, rxPackets: 2, drops: {} });
    expect(a.stats().socket.txPackets).toBe(6); // 4 frames, 2 of them flooded to both

    la.removeRemote("127.0.0.3");
    expect(la.remotes()).toEqual(["127.0.0.2"]);
    expect(la.learned()).toEqual([]); // a new flood list forgets what was learned
    la.addRemote("127.0.0.3");
    expect(la.remotes()).toEqual(["127.0.0.2", "127.0.0.3"]);
  });

  it("drops and counts bad datagrams without throwing; ignores reserved bits", async () => {
    const ep = endpoint();
    const link = ep.link({ name: "v", vni: 42, remotes: [] });
    const got = collect(link);
    const sender = new UdpSocket("127.0.0.1", 0);
    cleanups.push(() => sender.close());
    const hdr = (flags: number, vni: number) => [
      flags,
      0,
      0,
      0,
      vni >> 16,
      (vni >> 8) & 255,
      vni & 255,
      0,
    ];
    const inner = frame(BROADCAST, macA, 9);
    const datagrams = [
      Uint8Array.of(8), // one octet (a batch entry of length 0 is a hole, never sent)
      Uint8Array.of(8, 0, 0, 0),
      Uint8Array.from([...hdr(0, 42), ...inner]), // no I flag
      Uint8Array.from([...hdr(8, 43), ...inner]), // unknown VNI
      Uint8Array.from([...hdr(8, 42), ...inner.subarray(0, 10)]), // runt inner frame
      Uint8Array.from([...hdr(0xff, 42), ...inner]), // reserved flag bits set: fine
      Uint8Array.of(...hdr(8, 42).slice(0, 7), 0xaa, ...inner), // reserved last octet: fine
    ];
    const buf = new Uint8Array(datagrams.length * 2048);
    const lengths = new Uint32Array(datagrams.length);
    datagrams.forEach((d, i) => {
      buf.set(d, i * 2048);
      lengths[i] = d.length;
    });
    const n = datagrams.length;
    sender.send(
      buf,
      lengths,
      2048,
      n,
      new Uint32Array(n).fill(ipv4ToUint32("127.0.0.1")),
      new Uint16Array(n).fill(ep.port),
    );
    await until(() => got.length === 2);
    await settle();
    expect(got).toEqual([inner, inner]);
    expect(ep.stats().drops).toEqual({ truncated: 2, "no-vni": 1, "unknown-vni": 1 });
    expect(link.stats().drops).toEqual({ runt: 1 });
    // With no remote and nothing learned but macA, a broadcast has nowhere to go.
    const batch = arena.batch(2);
    batch.headroom = 8;
    expect(link.send(fillBatch(batch, [frame(BROADCAST, macB, 1)]))).toBe(0);
    expect(link.stats().drops).toEqual({ runt: 1, "no-remote": 1 });
  });

  it("hands each link its own frames when one batch mixes VNIs, in order", async () => {
    const a = endpoint();
    const b = endpoint();
    const a7 = a.link({ name: "a7", vni: 7, remotes: ["127.0.0.1"], remotePort: b.port });
    const a8 = a.link({ name: "a8", vni: 8, remotes: ["127.0.0.1"], remotePort: b.port });
    const b7 = b.link({ name: "b7", vni: 7 });
    const b8 = b.link({ name: "b8", vni: 8 });
    const got7 = collect(b7);
    const got8 = collect(b8);
    const batch = arena.batch(1);
    batch.headroom = 8;
    for (let i = 0; i < 20; i++) {
      (i % 3 === 0 ? a8 : a7).send(fillBatch(batch, [frame(BROADCAST, macA, i)]));
    }
    await until(() => got7.length + got8.length === 20);
    expect(got7.map(frameSeq)).toEqual([1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19]);
    expect(got8.map(frameSeq)).toEqual([0, 3, 6, 9, 12, 15, 18]);
    expect(() => b.link({ name: "again", vni: 7 })).toThrow(/VNI 7 already has link b7/);
    expect(() => b.link({ name: "big", vni: 1 << 24 })).toThrow(/VNI 16777216 is not in/);
    expect(() => b.link({ name: "v6", vni: 9, remotes: ["2001:db8::1"] })).toThrow(
      /not an IPv4 address/,
    );
    b8.close();
    expect(b.get(8)).toBeUndefined();
  });

  it("sends batches without headroom, or at the arena's end, from a copy, around holes", async () => {
    const a = endpoint();
    const b = endpoint();
    const la = a.link({ name: "a", vni: 5, remotes: ["127.0.0.1"], remotePort: b.port });
    const got = collect(b.link({ name: "b", vni: 5 }));
    const flat = arena.batch(4); // headroom 0
    la.send(fillBatch(flat, [frame(BROADCAST, macA, 1), null, frame(BROADCAST, macA, 2, 1500)]));
    const small = new PacketArena(2 * 2048);
    small.batch(1);
    const last = small.batch(1); // the arena's last slot, headroom 8: the header fits, the slot would overhang
    last.headroom = 8;
    la.send(fillBatch(last, [frame(BROADCAST, macA, 3, 2040)]));
    const room = arena.batch(3);
    room.headroom = 64;
    la.send(fillBatch(room, [null, frame(BROADCAST, macA, 4), null]));
    await until(() => got.length === 4);
    expect(got.map(frameSeq)).toEqual([1, 2, 3, 4]);
    expect(got.map((f) => f.length)).toEqual([60, 1500, 2040, 60]);
    expect(got[2]).toEqual(frame(BROADCAST, macA, 3, 2040));
    expect(la.stats()).toMatchObject({ txPackets: 4, txBytes: 60 + 1500 + 2040 + 60, drops: {} });
  });

  it("works over an IPv6 underlay and takes IPv4 remotes as mapped addresses", async () => {
    const a = endpoint("::1");
    const b = endpoint("::1");
    expect(a.family).toBe(6);
    const la = a.link({ name: "a", vni: 1, remotes: ["::1"], remotePort: b.port });
    const lb = b.link({ name: "b", vni: 1, remotes: ["::1"], remotePort: a.port });
    const gotB = collect(lb);
    const batch = arena.batch(1);
    batch.headroom = 8;
    la.send(fillBatch(batch, [frame(BROADCAST, macA, 1)]));
    await until(() => gotB.length === 1);
    expect(lb.learned()).toEqual([{ mac: macNumber("02:00:5e:00:53:a0"), vtep: "::1" }]);
    const v4 = endpoint("::", 0);
    expect(v4.link({ name: "m", vni: 2, remotes: ["198.19.0.1"] }).remotes()).toEqual([
      "198.19.0.1",
    ]);
  });
});
