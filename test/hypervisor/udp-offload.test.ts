/**
 * UdpSocket's segmentation offloads against the real kernel, on loopback:
 * UDP GSO on send (a run of same-size datagrams to one destination leaves
 * as one UDP_SEGMENT message and reaches a plain kernel socket as separate
 * datagrams) and UDP GRO on receive (coalesced datagrams are split back into
 * one packet a slot, also across receive calls when a batch is too small,
 * and through a VxlanEndpoint whose drain runs out of budget). Needs only
 * the native addon; the GSO fallback test (the kernel refuses UDP_SEGMENT
 * for segments larger than the MTU with EMSGSIZE) runs a child process in a
 * namespace of its own whose loopback MTU is 1280, and needs root.
 */
import { execFileSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { VxlanEndpoint } from "../../hypervisor/links/vxlan.ts";
import { ADDON_PATH, ipv4ToUint32, nativeAvailable, UdpSocket } from "../../hypervisor/native.ts";
import { PacketArena } from "../../router/batch.ts";
import { writeVxlanHeader } from "../../router/wire/vxlan.ts";
import { Lab } from "../integration/lab.ts";
import { packetsOf } from "./fakes.ts";

const hasNative = nativeAvailable();
if (!hasNative) console.warn("UDP offload tests skipped: the native addon is not built");
const isRoot = process.getuid?.() === 0;
if (hasNative && !isRoot)
  console.warn("UDP GSO fallback test skipped: it needs root (a namespace)");

const STRIDE = 2048;
const LOOPBACK = ipv4ToUint32("127.0.0.1");

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.reverse()) fn();
  cleanups = [];
});

function udp(): UdpSocket {
  const s = new UdpSocket("127.0.0.1", 0);
  cleanups.push(() => s.close());
  return s;
}

/** A datagram of `size` bytes carrying `seq` first, then `seq & 255` repeated. */
function datagram(seq: number, size: number): Uint8Array {
  const p = new Uint8Array(size).fill(seq & 255);
  new DataView(p.buffer).setUint32(0, seq);
  return p;
}

/** Packets at i * STRIDE, with their lengths (an empty packet is a hole). */
function batchOf(packets: Uint8Array[]): { buf: Uint8Array; lengths: Uint32Array } {
  const buf = new Uint8Array(packets.length * STRIDE);
  const lengths = new Uint32Array(packets.length);
  packets.forEach((p, i) => {
    buf.set(p, i * STRIDE);
    lengths[i] = p.length;
  });
  return { buf, lengths };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A plain kernel socket (Node's dgram, no GRO) and what it receives. */
async function kernelSocket(): Promise<{ port: number; got: Buffer[] }> {
  const s: Socket = createSocket("udp4");
  const got: Buffer[] = [];
  s.on("message", (m) => got.push(m));
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
  cleanups.push(() => s.close());
  return { port: s.address().port, got };
}

/** Drains `s` with batches of `max` slots until `n` datagrams came. */
async function receiveAll(s: UdpSocket, n: number, max: number): Promise<Uint8Array[]> {
  const buf = new Uint8Array(max * STRIDE);
  const lengths = new Uint32Array(max);
  const src = new Uint32Array(max);
  const ports = new Uint16Array(max);
  const got: Uint8Array[] = [];
  await until(() => {
    for (;;) {
      const k = s.receive(buf, lengths, STRIDE, max, src, ports);
      for (let i = 0; i < k; i++) {
        expect(src[i]).toBe(LOOPBACK);
        got.push(buf.slice(i * STRIDE, i * STRIDE + lengths[i]));
      }
      if (k < max && !s.pending()) return got.length >= n;
    }
  }, `${n} datagrams (got ${got.length})`);
  return got;
}

describe.skipIf(!hasNative)("UDP GSO on send", () => {
  it("sends runs of same-size datagrams as GSO messages that arrive as separate datagrams", async () => {
    const a = udp();
    const k = await kernelSocket();
    // 64 of 100 bytes (one message, the most segments), then 5 of 100 and a
    // shorter last one (a second message): 70 datagrams in 2 sends.
    const packets = Array.from({ length: 70 }, (_, i) => datagram(i, i === 69 ? 40 : 100));
    const { buf, lengths } = batchOf(packets);
    const dst = new Uint32Array(70).fill(LOOPBACK);
    const ports = new Uint16Array(70).fill(k.port);
    expect(a.send(buf, lengths, STRIDE, 70, dst, ports)).toBe(70);
    expect(a.offloads()).toMatchObject({ gso: true, gsoMessages: 2, gsoSegments: 70 });
    expect(a.stats()).toMatchObject({
      txPackets: 70,
      txBytes: 69 * 100 + 40,
      txDropped: 0,
      txErrors: 0,
    });
    await until(() => k.got.length === 70, "70 datagrams");
    expect(k.got.map((m) => new Uint8Array(m))).toEqual(packets);
  });

  it("groups only what may go together: destination, size, a shorter one last, holes skipped", async () => {
    const a = udp();
    const k1 = await kernelSocket();
    const k2 = await kernelSocket();
    const empty = new Uint8Array(0);
    // to k1: 3 × 50 with a hole inside (one message); 30 ends it; 50 after a
    // shorter one starts a new message with 60 refused (longer); k2 between.
    const plan: [Uint8Array, number][] = [
      [datagram(0, 50), k1.port],
      [empty, k1.port],
      [datagram(1, 50), k1.port],
      [datagram(2, 50), k1.port],
      [datagram(3, 30), k1.port],
      [datagram(4, 50), k1.port],
      [datagram(5, 60), k1.port],
      [datagram(6, 60), k2.port],
      [datagram(7, 60), k2.port],
      [datagram(8, 60), k1.port],
    ];
    const { buf, lengths } = batchOf(plan.map(([p]) => p));
    const dst = new Uint32Array(plan.length).fill(LOOPBACK);
    const ports = Uint16Array.from(plan.map(([, port]) => port));
    expect(a.send(buf, lengths, STRIDE, plan.length, dst, ports)).toBe(plan.length);
    // Messages: [0,1,2,3] [4] [5] [6,7] [8]: two GSO messages of 4 and 2.
    expect(a.offloads()).toMatchObject({ gsoMessages: 2, gsoSegments: 6 });
    expect(a.stats()).toMatchObject({ txPackets: 9, txErrors: 0, txDropped: 0 });
    await until(() => k1.got.length === 7 && k2.got.length === 2, "9 datagrams");
    const seqs = (got: Buffer[]) => got.map((m) => [m.readUInt32BE(0), m.length]);
    expect(seqs(k1.got)).toEqual([
      [0, 50],
      [1, 50],
      [2, 50],
      [3, 30],
      [4, 50],
      [5, 60],
      [8, 60],
    ]);
    expect(seqs(k2.got)).toEqual([
      [6, 60],
      [7, 60],
    ]);
  });
});

/** Run in the namespace: GSO sends the kernel refuses (twice), then what arrives. */
const FALLBACK_SCRIPT = `
import { createRequire } from "node:module";
const { UdpSocket } = createRequire(import.meta.url)(process.argv[1]);
const a = new UdpSocket("127.0.0.1", 0), b = new UdpSocket("127.0.0.1", 0);
const n = 4, stride = 2048, buf = new Uint8Array(n * stride);
for (let i = 0; i < n; i++) buf.fill(i + 1, i * stride, i * stride + 1300);
const lengths = new Uint32Array(n).fill(1300);
const dst = new Uint32Array(n).fill(0x7f000001), ports = new Uint16Array(n).fill(b.localPort());
const first = a.send(buf, lengths, stride, n, dst, ports);
const second = a.send(buf, lengths, stride, n, dst, ports);
const rb = new Uint8Array(16 * stride), rl = new Uint32Array(16), got = [];
const end = Date.now() + 3000;
while (got.length < 2 * n && Date.now() < end) {
  const k = b.receive(rb, rl, stride, 16, new Uint32Array(16), new Uint16Array(16));
  for (let i = 0; i < k; i++) got.push([rl[i], rb[i * stride], rb[i * stride + rl[i] - 1]]);
}
console.log(JSON.stringify({ first, second, offloads: a.offloads(), stats: a.stats(), got }));
a.close(); b.close();
`;

describe.skipIf(!hasNative || !isRoot)("UDP GSO refused by the kernel", () => {
  it("sends a run whose segments exceed the MTU one datagram a message, losing none", () => {
    const lab = new Lab("gso");
    try {
      const ns = lab.ns();
      execFileSync("ip", ["-n", ns, "link", "set", "lo", "mtu", "1280"]);
      const out = execFileSync(
        "ip",
        [
          "netns",
          "exec",
          ns,
          process.execPath,
          "--input-type=module",
          "-e",
          FALLBACK_SCRIPT,
          ADDON_PATH,
        ],
        { encoding: "utf8", timeout: 20_000 },
      );
      const r = JSON.parse(out);
      expect(r.first).toBe(4);
      expect(r.second).toBe(4);
      expect(r.offloads).toMatchObject({ gso: true, gsoMessages: 0, gsoSegments: 0 });
      expect(r.stats).toMatchObject({ txPackets: 8, txBytes: 8 * 1300, txErrors: 0, txDropped: 0 });
      // Each 1300-byte datagram went out in IP fragments and came back whole.
      const one = [1, 2, 3, 4].map((v) => [1300, v, v]);
      expect(r.got).toEqual([...one, ...one]);
    } finally {
      lab.cleanup();
    }
  });
});

describe.skipIf(!hasNative)("UDP GRO on receive", () => {
  it("splits coalesced datagrams back, also across calls when the batch is small", async () => {
    const a = udp();
    const b = udp();
    expect(b.enableGro()).toBe(true);
    expect(b.offloads().gro).toBe(true);
    const n = 100;
    const packets = Array.from({ length: n }, (_, i) => datagram(i, i === n - 1 ? 33 : 120));
    const { buf, lengths } = batchOf(packets);
    const dst = new Uint32Array(n).fill(LOOPBACK);
    const ports = new Uint16Array(n).fill(b.localPort());
    expect(a.send(buf, lengths, STRIDE, n, dst, ports)).toBe(n);
    // Loopback keeps GSO messages whole up to a GRO socket: 64 + 36 datagrams
    // arrive as 2 coalesced ones, split into batches of 7 (pending in between).
    const got = await receiveAll(b, n, 7);
    expect(got).toEqual(packets);
    expect(b.offloads()).toMatchObject({ groMessages: 2, groSegments: n });
    expect(b.stats()).toMatchObject({ rxPackets: n, rxBytes: 99 * 120 + 33, rxErrors: 0 });
    expect(b.pending()).toBe(false);
  });

  it("still receives plain datagrams one a slot, and drops a segment larger than the stride", async () => {
    const a = udp();
    const b = udp();
    b.enableGro();
    const sizes = [10, 2000, 70];
    const packets = sizes.map((s, i) => datagram(i, s));
    const { buf, lengths } = batchOf(packets);
    const dst = new Uint32Array(3).fill(LOOPBACK);
    const ports = new Uint16Array(3).fill(b.localPort());
    expect(a.send(buf, lengths, STRIDE, 3, dst, ports)).toBe(3);
    expect(await receiveAll(b, 3, 4)).toEqual(packets);
    // Two datagrams of 3000 bytes, one GSO message from a STRIDE of 4096: coalesced,
    // each segment is larger than the receiver's 2048-byte slots and is dropped.
    const wide = new Uint8Array(2 * 4096);
    const wideLengths = Uint32Array.of(3000, 3000);
    expect(a.send(wide, wideLengths, 4096, 2, dst, ports)).toBe(2);
    await until(() => {
      const rb = new Uint8Array(4 * STRIDE);
      b.receive(rb, new Uint32Array(4), STRIDE, 4, new Uint32Array(4), new Uint16Array(4));
      return b.stats().rxErrors === 2;
    }, "two oversized segments dropped");
    expect(b.stats()).toMatchObject({ rxPackets: 3, rxErrors: 2 });
  });

  it("hands a VXLAN endpoint every frame of coalesced datagrams, past its drain budget", async () => {
    const arena = new PacketArena(1 << 20);
    const ep = new VxlanEndpoint({ arena, address: "127.0.0.1", port: 0, batchSize: 4, budget: 1 });
    cleanups.push(() => ep.close());
    expect(ep.socket.offloads().gro).toBe(true);
    const link = ep.link({ name: "v", vni: 42, remotes: [], learning: false });
    const frames: Uint8Array[] = [];
    link.onReceive((batch) => frames.push(...packetsOf(batch)));
    const n = 40;
    const packets = Array.from({ length: n }, (_, i) => {
      const p = new Uint8Array(8 + 60);
      writeVxlanHeader(p, 0, 42);
      p.set([2, 0, 0x5e, 0, 0x53, 0xb0, 2, 0, 0x5e, 0, 0x53, 0xa0, 0x88, 0xb5], 8);
      new DataView(p.buffer).setUint32(8 + 14, i);
      return p;
    });
    const a = udp();
    const { buf, lengths } = batchOf(packets);
    const dst = new Uint32Array(n).fill(LOOPBACK);
    const ports = new Uint16Array(n).fill(ep.port);
    expect(a.send(buf, lengths, STRIDE, n, dst, ports)).toBe(n);
    await until(() => frames.length === n, `${n} frames (got ${frames.length})`);
    expect(frames).toEqual(packets.map((p) => p.subarray(8)));
    expect(ep.socket.offloads().groMessages).toBe(1);
    expect(link.stats()).toMatchObject({ rxPackets: n });
  });
});
