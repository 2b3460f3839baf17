/**
 * Throughput of the router's TCP, in process: two stacks joined by a
 * queue (each segment copied once onto the "wire", as a host stack copies
 * it into a packet batch), real time from performance.now(). Transfers
 * `--mb` megabytes (default 100) A to B, then B to A, then both ways at
 * once, with and without MD5 signatures, and prints MB/s (10^6 octets a
 * second) and segments a second.
 *
 *   npm run bench:tcp -- [--mb 100] [--mss 1460] [--md5]
 */
import { performance } from "node:perf_hooks";
import type { TcpConnection } from "../router/tcp/connection.ts";
import { TcpStack } from "../router/tcp/stack.ts";
import type { Family, TcpOutput, TcpUser } from "../router/tcp/types.ts";

interface Pkt {
  to: TcpStack;
  family: Family;
  src: Uint32Array;
  dst: Uint32Array;
  bytes: Uint8Array;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const MB = arg("mb", 100);
const MSS = arg("mss", 1460);
const ONLY_MD5 = process.argv.includes("--md5");

function run(direction: "a->b" | "b->a" | "both", md5: boolean): void {
  const queue: Pkt[] = [];
  let head = 0;
  const mk = (secret: number, peer: () => TcpStack) =>
    new TcpStack({
      secret: new Uint8Array(32).fill(secret),
      emit: (out: TcpOutput) =>
        queue.push({
          to: peer(),
          family: out.family,
          src: out.src,
          dst: out.dst,
          bytes: out.segment.slice(),
        }),
    });
  const a: TcpStack = mk(1, () => b);
  const b: TcpStack = mk(2, () => a);
  const total = MB * 1e6;
  const chunk = new Uint8Array(1 << 16).fill(0x5a);
  const received = { a: 0, b: 0 };
  const pumps: (() => void)[] = [];
  const user = (side: "a" | "b", sending: boolean): TcpUser => {
    let offered = 0;
    const pump = (c: TcpConnection) => {
      while (offered < total) {
        const n = c.send(chunk.subarray(0, Math.min(chunk.length, total - offered)));
        offered += n;
        if (n === 0) break;
      }
    };
    return {
      accepted: (c) => sending && pumps.push(() => pump(c)),
      connected: (c) => sending && pumps.push(() => pump(c)),
      data: (_c, bytes) => {
        received[side] += bytes.length;
      },
      writable: (c) => pump(c),
      closed: () => {},
    };
  };
  const key = md5 ? new Uint8Array(16).fill(7) : undefined;
  const A = Uint32Array.of(0xc6120001);
  const B = Uint32Array.of(0xc6120002);
  b.listen({
    family: 4,
    port: 179,
    mss: MSS,
    user: user("b", direction !== "a->b"),
    md5KeyFor: () => key,
  });
  let now = performance.now();
  a.connect(
    { family: 4, address: A, port: 0 },
    { family: 4, address: B, port: 179 },
    { mss: MSS, md5Key: key, user: user("a", direction !== "b->a") },
    now,
  );
  const drain = () => {
    while (head < queue.length) {
      const p = queue[head++];
      p.to.input(p.family, p.src, p.dst, p.bytes, 0, p.bytes.length, now);
      if (head > 4096) {
        queue.splice(0, head);
        head = 0;
      }
    }
  };
  drain();
  for (const p of pumps) p();
  const expectA = direction === "a->b" ? 0 : total;
  const expectB = direction === "b->a" ? 0 : total;
  const start = performance.now();
  const segsBefore = a.counters.segmentsOut + b.counters.segmentsOut;
  while (received.a < expectA || received.b < expectB) {
    now = performance.now();
    drain();
    a.poll(now);
    b.poll(now);
    if (head >= queue.length && now - start > 120_000) throw new Error("stalled");
  }
  const secs = (performance.now() - start) / 1000;
  const moved = expectA + expectB;
  const segs = a.counters.segmentsOut + b.counters.segmentsOut - segsBefore;
  const rex = a.counters.retransmits + b.counters.retransmits;
  console.log(
    `${direction.padEnd(5)} md5=${md5 ? "yes" : "no "} ${(moved / 1e6).toFixed(0)} MB in ${secs.toFixed(2)} s: ` +
      `${(moved / 1e6 / secs).toFixed(0)} MB/s, ${Math.round(segs / secs)} segments/s, retransmits ${rex}`,
  );
}

for (const md5 of ONLY_MD5 ? [true] : [false, true]) {
  run("a->b", md5);
  run("b->a", md5);
  run("both", md5);
}
