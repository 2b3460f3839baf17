/**
 * The native substrate links against the real kernel. Each test makes its own
 * network namespace (vrt-<pid>-<n>), creates TUN/TAP devices from this
 * process, moves them into the namespace (their fds keep working) and drives
 * traffic there with python3; afterEach closes every queue, fd and namespace
 * the test made, whatever happened. Addresses: 198.18.0.0/15, 2001:db8::/32.
 * Needs root and /dev/net/tun; skipped with a message otherwise.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import {
  closeFd,
  getMac,
  getMtu,
  ifIndex,
  ipv4ToUint32,
  openTun,
  PacketQueue,
  type QueueMode,
  setLinkUp,
  setMac,
  setMtu,
  setTxQueueLen,
  type TunDevice,
  UdpSocket,
  uint32ToIpv4,
} from "../../hypervisor/native.ts";

const isRoot = process.getuid?.() === 0;
const hasTun = existsSync("/dev/net/tun");
const canRun = isRoot && hasTun;
if (!canRun) {
  console.warn(
    `native substrate tests skipped: they need root and /dev/net/tun (root: ${isRoot}, /dev/net/tun: ${hasTun})`,
  );
}

const REPO = new URL("../../", import.meta.url).pathname;
const STRIDE = 2048;

// ---------------------------------------------------------------- cleanup

let cleanups: (() => void)[] = [];
let nsCounter = 0;

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

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function newNs(): string {
  const ns = `vrt-${process.pid}-${++nsCounter}`;
  sh("ip", ["netns", "add", ns]);
  cleanups.push(() => sh("ip", ["netns", "del", ns]));
  sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
  return ns;
}

interface Device extends TunDevice {
  close(): void;
}

/** Opens a device in this namespace; afterEach closes its fd (removing it). */
function device(kind: "tun" | "tap", name = ""): Device {
  const d = openTun(name, kind);
  let open = true;
  const dev: Device = {
    ...d,
    close() {
      if (open) closeFd(d.fd);
      open = false;
    },
  };
  cleanups.push(() => dev.close());
  return dev;
}

/** Moves a device into `ns`, brings it up and gives it addresses. */
function moveTo(dev: Device, ns: string, ...addrs: string[]): void {
  sh("ip", ["link", "set", "dev", dev.name, "netns", ns]);
  for (const a of addrs) sh("ip", ["-n", ns, "addr", "add", a, "dev", dev.name, "nodad"]);
  sh("ip", ["-n", ns, "link", "set", dev.name, "up"]);
}

function queue(fd: number, options: ConstructorParameters<typeof PacketQueue>[1]): PacketQueue {
  const q = new PacketQueue(fd, options);
  cleanups.push(() => q.close());
  return q;
}

// ---------------------------------------------------------------- traffic

/**
 * Runs python3 inside `ns`. The script below sends `count` UDP datagrams
 * (payload "<tag> <i>") from (src, sport) to (dst, dport), then prints, one
 * line each, the payloads of the replies it receives within `wait` seconds
 * (at most `replies`).
 */
const PY_UDP = `
import socket, sys
fam, src, sport, dst, dport, tag, count, replies, wait = sys.argv[1:10]
s = socket.socket(socket.AF_INET6 if fam == "6" else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, int(sport)))
for i in range(int(count)):
    s.sendto(("%s %d" % (tag, i)).encode(), (dst, int(dport)))
s.settimeout(float(wait))
for _ in range(int(replies)):
    try:
        data, peer = s.recvfrom(4096)
    except socket.timeout:
        break
    print(data.decode(), peer[0], peer[1], flush=True)
`;

interface Py {
  child: ChildProcess;
  done: Promise<string>;
}

function udpInNs(ns: string, args: (string | number)[]): Py {
  const child = spawn("ip", ["netns", "exec", ns, "python3", "-c", PY_UDP, ...args.map(String)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanups.push(() => child.kill());
  let out = "";
  let err = "";
  child.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on("data", (b: Buffer) => {
    err += b.toString();
  });
  const done = new Promise<string>((resolve, reject) => {
    child.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`python3 exited ${code}: ${err}`)),
    );
  });
  return { child, done };
}

/** Collects `n` packets matching `want` from `q` (copies), or rejects after `ms`. */
function collect(
  q: PacketQueue,
  want: (p: Uint8Array) => boolean,
  n: number,
  ms = 5000,
  onPacket?: (p: Uint8Array) => void,
): Promise<Uint8Array[]> {
  const buf = new Uint8Array(64 * STRIDE);
  const lengths = new Uint32Array(64);
  const got: Uint8Array[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      q.onReadable(null);
      reject(new Error(`got ${got.length} of ${n} packets; stats ${JSON.stringify(q.stats())}`));
    }, ms);
    q.onReadable(() => {
      const count = q.receive(buf, lengths, STRIDE, 64);
      for (let i = 0; i < count && got.length < n; i++) {
        const p = buf.slice(i * STRIDE, i * STRIDE + lengths[i]);
        onPacket?.(p);
        if (want(p)) got.push(p);
      }
      if (got.length >= n) {
        clearTimeout(timer);
        q.onReadable(null);
        resolve(got);
      }
    });
  });
}

// ---------------------------------------------------------------- packets

function checksum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Bytes(a: string): number[] {
  return a.split(".").map(Number);
}

function ipv6Bytes(a: string): number[] {
  const [head, tail] = a.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => {
    const v = Number.parseInt(g, 16);
    return [v >> 8, v & 255];
  });
}

/** An IPv4 (or IPv6) packet carrying a UDP datagram, with valid checksums. */
function udpPacket(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Uint8Array {
  const v6 = src.includes(":");
  const hl = v6 ? 40 : 20;
  const udpLen = 8 + payload.length;
  const p = new Uint8Array(hl + udpLen);
  const dv = new DataView(p.buffer);
  const s = v6 ? ipv6Bytes(src) : ipv4Bytes(src);
  const d = v6 ? ipv6Bytes(dst) : ipv4Bytes(dst);
  if (v6) {
    p[0] = 0x60;
    dv.setUint16(4, udpLen);
    p[6] = 17;
    p[7] = 64;
    p.set(s, 8);
    p.set(d, 24);
  } else {
    p[0] = 0x45;
    dv.setUint16(2, p.length);
    p[8] = 64;
    p[9] = 17;
    p.set(s, 12);
    p.set(d, 16);
    dv.setUint16(10, checksum(p.subarray(0, 20)));
  }
  dv.setUint16(hl, sport);
  dv.setUint16(hl + 2, dport);
  dv.setUint16(hl + 4, udpLen);
  p.set(payload, hl + 8);
  const pseudo = [...s, ...d, 0, 17, udpLen >> 8, udpLen & 255];
  let sum = 0;
  for (let i = 0; i < pseudo.length; i += 2) sum += (pseudo[i] << 8) | pseudo[i + 1];
  dv.setUint16(hl + 6, checksum(p.subarray(hl), sum) || 0xffff);
  return p;
}

interface Udp {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: string;
}

/** Parses an IPv4/IPv6 packet carrying UDP, or returns undefined. */
function parseUdp(p: Uint8Array): Udp | undefined {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  let hl: number;
  let src: string;
  let dst: string;
  if (p[0] >> 4 === 4 && p[9] === 17) {
    hl = (p[0] & 15) * 4;
    src = [...p.subarray(12, 16)].join(".");
    dst = [...p.subarray(16, 20)].join(".");
  } else if (p[0] >> 4 === 6 && p[6] === 17) {
    hl = 40;
    const hex = (b: Uint8Array) =>
      Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16)).join(":");
    src = hex(p.subarray(8, 24));
    dst = hex(p.subarray(24, 40));
  } else {
    return undefined;
  }
  return {
    src,
    dst,
    sport: dv.getUint16(hl),
    dport: dv.getUint16(hl + 2),
    payload: new TextDecoder().decode(p.subarray(hl + 8, hl + dv.getUint16(hl + 4))),
  };
}

/** Puts packets into a fixed-stride batch. */
function batch(packets: Uint8Array[]): { buf: Uint8Array; lengths: Uint32Array } {
  const buf = new Uint8Array(Math.max(1, packets.length) * STRIDE);
  const lengths = new Uint32Array(Math.max(1, packets.length));
  packets.forEach((p, i) => {
    buf.set(p, i * STRIDE);
    lengths[i] = p.length;
  });
  return { buf, lengths };
}

async function waitFor(cond: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

// ---------------------------------------------------------------- tests

describe.skipIf(!canRun)("native substrate links (root, real kernel)", () => {
  describe.each(["uring", "rw"] as QueueMode[])("PacketQueue on TUN, mode %s", (mode) => {
    it("receives IPv4 packets as sent and its UDP replies reach a socket in the namespace", async () => {
      const ns = newNs();
      const tun = device("tun");
      moveTo(tun, ns, "198.18.1.1/24");
      const q = queue(tun.fd, { mode });
      const py = udpInNs(ns, [4, "198.18.1.1", 40001, "198.18.1.2", 7, "ping", 3, 3, 5]);
      const got = await collect(q, (p) => parseUdp(p)?.dport === 7, 3);

      got.forEach((p, i) => {
        expect(p[0]).toBe(0x45); // IPv4, 20-byte header
        expect(new DataView(p.buffer).getUint16(2)).toBe(p.length);
        expect(p[9]).toBe(17);
        expect(checksum(p.subarray(0, 20))).toBe(0); // header checksum intact
        expect(parseUdp(p)).toEqual({
          src: "198.18.1.1",
          dst: "198.18.1.2",
          sport: 40001,
          dport: 7,
          payload: `ping ${i}`,
        });
      });

      const replies = got.map((_, i) =>
        udpPacket("198.18.1.2", "198.18.1.1", 7, 40001, new TextEncoder().encode(`pong ${i}`)),
      );
      const { buf, lengths } = batch(replies);
      expect(q.send(buf, lengths, STRIDE, replies.length)).toBe(3);
      const out = await py.done;
      expect(out.trim().split("\n")).toEqual([
        "pong 0 198.18.1.2 7",
        "pong 1 198.18.1.2 7",
        "pong 2 198.18.1.2 7",
      ]);
      const stats = q.stats();
      expect(stats.rxPackets).toBeGreaterThanOrEqual(3);
      expect(stats.txPackets).toBe(3);
      expect(stats.txBytes).toBe(replies.reduce((a, p) => a + p.length, 0));
      expect(stats.txDropped + stats.txErrors).toBe(0);
    });

    it("keeps the order of a burst of 300 packets, more than the reads in flight", async () => {
      const ns = newNs();
      const tun = device("tun");
      setTxQueueLen(tun.name, 1000);
      moveTo(tun, ns, "198.18.2.1/24");
      const q = queue(tun.fd, { mode, slots: 16 });
      const py = udpInNs(ns, [4, "198.18.2.1", 40002, "198.18.2.2", 9, "seq", 300, 0, 0]);
      const got = await collect(q, (p) => parseUdp(p)?.dport === 9, 300);
      await py.done;
      expect(got.map((p) => parseUdp(p)?.payload)).toEqual(
        Array.from({ length: 300 }, (_, i) => `seq ${i}`),
      );
      expect(q.stats().rxErrors).toBe(0);
    });

    it("refuses what does not fit, and says so once closed", () => {
      const tun = device("tun"); // down: nothing arrives, writes fail (txErrors)
      const q = queue(tun.fd, { mode, slots: 4, txSlots: 4 });
      const packets = Array.from({ length: 10 }, () =>
        udpPacket("198.18.3.2", "198.18.3.1", 9, 9, new Uint8Array(10)),
      );
      const { buf, lengths } = batch(packets);
      const accepted = q.send(buf, lengths, STRIDE, 10);
      const stats = q.stats();
      if (mode === "uring") {
        expect(accepted).toBe(4); // 4 tx buffers: the other 6 are refused, not queued
        expect(stats.txDropped).toBe(6);
      } else {
        expect(accepted).toBe(10);
      }
      expect(stats.txPackets + stats.txErrors).toBe(accepted);
      expect(() => q.send(buf, lengths, STRIDE, 11)).toThrow(RangeError);
      expect(() => q.receive(buf, lengths, STRIDE + 1, 10)).toThrow(/need more than/);
      lengths[0] = STRIDE + 1;
      expect(() => q.send(buf, lengths, STRIDE, 1)).toThrow(/longer than the stride/);
      expect(q.receive(buf, lengths, STRIDE, 10)).toBe(0); // nothing waits: returns at once
      q.close();
      q.close();
      expect(() => q.send(buf, lengths, STRIDE, 1)).toThrow("PacketQueue.send: queue is closed");
      expect(() => q.receive(buf, lengths, STRIDE, 1)).toThrow(
        "PacketQueue.receive: queue is closed",
      );
      expect(() => q.onReadable(() => {})).toThrow(/closed/);
      expect(q.stats().txDropped).toBe(stats.txDropped); // stats survive close
    });

    it("releases the device on close() and closeFd, even with reads in flight", async () => {
      const name = `vrt${process.pid % 100000}${mode[0]}`;
      const tun = device("tun", name);
      expect(tun.name).toBe(name);
      setLinkUp(tun.name, true);
      const q = queue(tun.fd, { mode, slots: 64 });
      q.onReadable(() => {});
      expect(existsSync(`/sys/class/net/${name}`)).toBe(true);
      q.close();
      tun.close();
      expect(await waitFor(() => !existsSync(`/sys/class/net/${name}`))).toBe(true);
    });
  });

  it("carries IPv6 both ways on a TUN", async () => {
    const ns = newNs();
    const tun = device("tun");
    moveTo(tun, ns, "2001:db8:4::1/64");
    const q = queue(tun.fd, {});
    const py = udpInNs(ns, [6, "2001:db8:4::1", 40004, "2001:db8:4::2", 7, "six", 2, 2, 5]);
    const got = await collect(q, (p) => parseUdp(p)?.dport === 7, 2);
    expect(got.map((p) => [p[0] >> 4, parseUdp(p)?.src, parseUdp(p)?.payload])).toEqual([
      [6, "2001:db8:4:0:0:0:0:1", "six 0"],
      [6, "2001:db8:4:0:0:0:0:1", "six 1"],
    ]);
    const replies = [0, 1].map((i) =>
      udpPacket("2001:db8:4::2", "2001:db8:4::1", 7, 40004, new TextEncoder().encode(`xis ${i}`)),
    );
    const { buf, lengths } = batch(replies);
    expect(q.send(buf, lengths, STRIDE, 2)).toBe(2);
    expect((await py.done).trim().split("\n")).toEqual([
      "xis 0 2001:db8:4::2 7",
      "xis 1 2001:db8:4::2 7",
    ]);
  });

  it("carries Ethernet frames on a TAP: answers ARP, receives and sends UDP", async () => {
    const ns = newNs();
    const tap = device("tap");
    const tapMac = Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x00, 0x01);
    const peerMac = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];
    setMac(tap.name, tapMac);
    expect([...getMac(tap.name)]).toEqual([...tapMac]);
    moveTo(tap, ns, "198.18.5.1/24");
    const q = queue(tap.fd, { mode: "uring" });
    const py = udpInNs(ns, [4, "198.18.5.1", 40005, "198.18.5.2", 7, "eth", 2, 2, 5]);

    // The kernel asks who has 198.18.5.2; answer from peerMac.
    const arpReply = (req: Uint8Array) => {
      const f = new Uint8Array(42);
      f.set(req.subarray(6, 12), 0);
      f.set(peerMac, 6);
      f.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2], 12);
      f.set(peerMac, 22);
      f.set(req.subarray(38, 42), 28); // sender IP = the address asked for
      f.set(req.subarray(22, 32), 32); // target MAC + IP = the asker
      const { buf, lengths } = batch([f]);
      q.send(buf, lengths, STRIDE, 1);
    };
    const isArpRequest = (f: Uint8Array) =>
      f[12] === 0x08 &&
      f[13] === 0x06 &&
      f[21] === 1 &&
      f.subarray(38, 42).join(".") === "198.18.5.2";
    const frames = await collect(
      q,
      (f) => f[12] === 0x08 && f[13] === 0x00 && parseUdp(f.subarray(14))?.dport === 7,
      2,
      5000,
      (f) => {
        if (isArpRequest(f)) arpReply(f);
      },
    );
    for (const [i, f] of frames.entries()) {
      expect([...f.subarray(0, 6)]).toEqual(peerMac);
      expect([...f.subarray(6, 12)]).toEqual([...tapMac]);
      expect(parseUdp(f.subarray(14))).toEqual({
        src: "198.18.5.1",
        dst: "198.18.5.2",
        sport: 40005,
        dport: 7,
        payload: `eth ${i}`,
      });
    }
    const replies = [0, 1].map((i) => {
      const ip = udpPacket(
        "198.18.5.2",
        "198.18.5.1",
        7,
        40005,
        new TextEncoder().encode(`hte ${i}`),
      );
      const f = new Uint8Array(14 + ip.length);
      f.set(tapMac, 0);
      f.set(peerMac, 6);
      f.set([0x08, 0x00], 12);
      f.set(ip, 14);
      return f;
    });
    const { buf, lengths } = batch(replies);
    expect(q.send(buf, lengths, STRIDE, 2)).toBe(2);
    expect((await py.done).trim().split("\n")).toEqual([
      "hte 0 198.18.5.2 7",
      "hte 1 198.18.5.2 7",
    ]);
  });

  it("sets link state, MTU, tx queue length and MAC through ioctls", () => {
    const tun = device("tun");
    const tap = device("tap");
    const flags = (n: string) => Number(readFileSync(`/sys/class/net/${n}/flags`, "utf8").trim());
    setLinkUp(tun.name, true);
    expect(flags(tun.name) & 1).toBe(1);
    setLinkUp(tun.name, false);
    expect(flags(tun.name) & 1).toBe(0);
    setMtu(tun.name, 1400);
    expect(getMtu(tun.name)).toBe(1400);
    expect(readFileSync(`/sys/class/net/${tun.name}/mtu`, "utf8").trim()).toBe("1400");
    setTxQueueLen(tun.name, 2000);
    expect(readFileSync(`/sys/class/net/${tun.name}/tx_queue_len`, "utf8").trim()).toBe("2000");
    expect(ifIndex(tun.name)).toBe(
      Number(readFileSync(`/sys/class/net/${tun.name}/ifindex`, "utf8")),
    );
    expect([...getMac(tun.name)]).toEqual([0, 0, 0, 0, 0, 0]); // a TUN has none
    const mac = Uint8Array.of(0x02, 0x00, 0x5e, 0x00, 0x53, 0x07);
    setMac(tap.name, mac);
    expect(readFileSync(`/sys/class/net/${tap.name}/address`, "utf8").trim()).toBe(
      "02:00:5e:00:53:07",
    );
  });

  it("throws errors that name the call, the device and the errno", () => {
    expect(() => openTun("this-name-is-too-long", "tun")).toThrow(
      "openTun this-name-is-too-long: EINVAL (Invalid argument)",
    );
    const missing = `vrt-no-${process.pid % 100000}`;
    expect(() => setMtu(missing, 1400)).toThrow(`setMtu ${missing}: ENODEV (No such device)`);
    try {
      setLinkUp(missing, true);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: "ENODEV", errno: 19, syscall: "setLinkUp" });
    }
    const tap = device("tap");
    expect(() => openTun(tap.name, "tun")).toThrow(`openTun ${tap.name}: EINVAL`); // kind mismatch
    expect(() => openTun("", "tan" as "tun")).toThrow(TypeError);
    expect(() => new PacketQueue(tap.fd, { mode: "mmap" as QueueMode })).toThrow(/mode must be/);
    expect(() => new PacketQueue(999_999, {})).toThrow("PacketQueue fd 999999: EBADF");
    expect(() => new UdpSocket("198.18.255.254", 0)).toThrow(
      "UdpSocket 198.18.255.254:0: EADDRNOTAVAIL (Cannot assign requested address)",
    );
    expect(() => new UdpSocket("not-an-address", 0)).toThrow(/not an IPv4 or IPv6 address/);
  });

  it("sends a batch with holes in one call, and a last packet that ends before its slot does", async () => {
    const a = new UdpSocket("127.0.0.1", 0);
    const b = new UdpSocket("127.0.0.1", 0);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const lengths = Uint32Array.of(30, 0, 0, 40);
    // The buffer ends right after the last packet: shorter than 4 * STRIDE.
    const buf = new Uint8Array(3 * STRIDE + 40);
    buf.fill(1, 0, 30);
    buf.fill(4, 3 * STRIDE, 3 * STRIDE + 40);
    const dst = new Uint32Array(4).fill(ipv4ToUint32("127.0.0.1"));
    const ports = new Uint16Array(4).fill(b.localPort());
    expect(a.send(buf, lengths, STRIDE, 4, dst, ports)).toBe(4);
    expect(a.stats()).toMatchObject({ txPackets: 2, txBytes: 70, txDropped: 0 });
    lengths[3] = 41;
    expect(() => a.send(buf, lengths, STRIDE, 4, dst, ports)).toThrow(
      /packet 3 runs past the end of buf/,
    );
    const rbuf = new Uint8Array(4 * STRIDE);
    const rlen = new Uint32Array(4);
    const got: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`got ${got.length} of 2`)), 5000);
      b.onReadable(() => {
        const count = b.receive(rbuf, rlen, STRIDE, 4, new Uint32Array(4), new Uint16Array(4));
        for (let i = 0; i < count; i++) got.push(rlen[i]);
        if (got.length === 2) {
          clearTimeout(timer);
          b.onReadable(null);
          resolve();
        }
      });
    });
    expect(got).toEqual([30, 40]);
  });

  it("moves batches of 64 datagrams over UDP on loopback, with sources", async () => {
    const a = new UdpSocket("127.0.0.1", 0);
    const b = new UdpSocket("127.0.0.1", 0);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    expect(a.family()).toBe(4);
    const n = 64;
    const packets = Array.from({ length: n }, (_, i) => {
      const p = new Uint8Array(50 + i * 20); // VXLAN-sized, all different
      p.fill(i);
      new DataView(p.buffer).setUint32(0, i);
      return p;
    });
    const { buf, lengths } = batch(packets);
    const dst = new Uint32Array(n).fill(ipv4ToUint32("127.0.0.1"));
    const ports = new Uint16Array(n).fill(b.localPort());
    expect(a.send(buf, lengths, STRIDE, n, dst, ports)).toBe(n);

    const rbuf = new Uint8Array(n * STRIDE);
    const rlen = new Uint32Array(n);
    const src = new Uint32Array(n);
    const sport = new Uint16Array(n);
    const got: Uint8Array[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${n}`)), 5000);
      b.onReadable(() => {
        const count = b.receive(rbuf, rlen, STRIDE, n, src, sport);
        for (let i = 0; i < count; i++) {
          expect(uint32ToIpv4(src[i])).toBe("127.0.0.1");
          expect(sport[i]).toBe(a.localPort());
          got.push(rbuf.slice(i * STRIDE, i * STRIDE + rlen[i]));
        }
        if (got.length === n) {
          clearTimeout(timer);
          b.onReadable(null);
          resolve();
        }
      });
    });
    expect(got).toEqual(packets);
    expect(b.stats()).toMatchObject({ rxPackets: n, rxErrors: 0 });
    expect(a.stats()).toMatchObject({
      txPackets: n,
      txBytes: packets.reduce((s, p) => s + p.length, 0),
      txDropped: 0,
    });
    // A datagram longer than the stride is dropped and counted, not cut.
    const big = batch([new Uint8Array(1500)]);
    a.send(big.buf, big.lengths, STRIDE, 1, dst, ports);
    expect(
      await waitFor(
        () => b.receive(rbuf, rlen, 1000, 1, src, sport) === 0 && b.stats().rxErrors === 1,
      ),
    ).toBe(true);
    a.close();
    expect(() => a.send(buf, lengths, STRIDE, 1, dst, ports)).toThrow(
      "UdpSocket.send: socket is closed",
    );
  });

  it("speaks IPv6 on loopback", async () => {
    const a = new UdpSocket("::1", 0);
    const b = new UdpSocket("::1", 0);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    expect(b.family()).toBe(6);
    const { buf, lengths } = batch([Uint8Array.of(1, 2, 3)]);
    const loop6 = Uint32Array.of(0, 0, 0, 1);
    expect(a.send(buf, lengths, STRIDE, 1, loop6, Uint16Array.of(b.localPort()))).toBe(1);
    const src = new Uint32Array(4);
    const sport = new Uint16Array(1);
    const rlen = new Uint32Array(1);
    const rbuf = new Uint8Array(STRIDE);
    expect(await waitFor(() => b.receive(rbuf, rlen, STRIDE, 1, src, sport) === 1)).toBe(true);
    expect([...rbuf.subarray(0, rlen[0])]).toEqual([1, 2, 3]);
    expect([...src]).toEqual([0, 0, 0, 1]);
    expect(sport[0]).toBe(a.localPort());
  });

  it("never keeps the process alive once closed or unref'd", () => {
    const script = `
      const n = await import(${JSON.stringify(`${REPO}hypervisor/native.ts`)});
      for (const mode of ["uring", "rw"]) {
        const d = n.openTun("", "tun");
        const q = new n.PacketQueue(d.fd, { mode });
        q.onReadable(() => {});
        q.close();
        n.closeFd(d.fd);
      }
      const d = n.openTun("", "tun");
      new n.PacketQueue(d.fd, {}).unref().onReadable(() => {});
      const u = new n.UdpSocket("127.0.0.1", 0);
      u.onReadable(() => {});
      u.close();
      new n.UdpSocket("127.0.0.1", 0).unref().onReadable(() => {});
      console.log("done");
    `;
    const started = Date.now();
    const out = execFileSync(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      { cwd: REPO, encoding: "utf8", timeout: 15_000 },
    );
    expect(out.trim()).toBe("done");
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
