/**
 * Test fixtures for the router: packet builders over the wire modules, a
 * router wired to a capture of everything it transmits, and helpers to feed
 * it packets as batches.
 */
import { parseIPv4, parseIPv6 } from "../../fib/prefix.ts";
import { PacketArena, type PacketBatch } from "../../router/batch.ts";
import { VirtualRouter } from "../../router/router.ts";
import { internetChecksum, ipv6PseudoSumAt } from "../../router/wire/checksum.ts";
import { fillIpv4Checksum } from "../../router/wire/ipv4.ts";

export function ip4(text: string): number {
  const v = parseIPv4(text);
  if (v === undefined) throw new Error(`bad address ${text}`);
  return v;
}

export function ip6(text: string): Uint32Array {
  const v = parseIPv6(text);
  if (!v) throw new Error(`bad address ${text}`);
  return v;
}

export interface V4Options {
  src: string;
  dst: string;
  ttl?: number;
  protocol?: number;
  payload?: Uint8Array;
  df?: boolean;
  id?: number;
  options?: Uint8Array;
}

/** An IPv4 packet (ICMP echo request by default). */
export function ipv4Packet(o: V4Options): Uint8Array {
  const opts = o.options ?? new Uint8Array(0);
  const hl = 20 + opts.length;
  const payload = o.payload ?? echoRequest4(1, 1, 16);
  const p = new Uint8Array(hl + payload.length);
  p[0] = 0x40 | (hl >>> 2);
  p[2] = p.length >>> 8;
  p[3] = p.length & 0xff;
  p[4] = (o.id ?? 0x1234) >>> 8;
  p[5] = (o.id ?? 0x1234) & 0xff;
  p[6] = o.df ? 0x40 : 0;
  p[8] = o.ttl ?? 64;
  p[9] = o.protocol ?? 1;
  const s = ip4(o.src);
  const d = ip4(o.dst);
  for (let b = 0; b < 4; b++) {
    p[12 + b] = (s >>> (24 - 8 * b)) & 0xff;
    p[16 + b] = (d >>> (24 - 8 * b)) & 0xff;
  }
  p.set(opts, 20);
  p.set(payload, hl);
  fillIpv4Checksum(p, 0);
  return p;
}

/** An ICMP echo request message with `size` bytes of data. */
export function echoRequest4(id: number, seq: number, size: number): Uint8Array {
  const m = new Uint8Array(8 + size);
  m[0] = 8;
  m[4] = id >>> 8;
  m[5] = id & 0xff;
  m[6] = seq >>> 8;
  m[7] = seq & 0xff;
  for (let i = 0; i < size; i++) m[8 + i] = i & 0xff;
  const sum = internetChecksum(m, 0, m.length);
  m[2] = sum >>> 8;
  m[3] = sum & 0xff;
  return m;
}

export interface V6Options {
  src: string;
  dst: string;
  hopLimit?: number;
  nextHeader?: number;
  payload?: Uint8Array;
}

/** An IPv6 packet; an ICMPv6 payload (next header 58) gets its checksum filled. */
export function ipv6Packet(o: V6Options): Uint8Array {
  const payload = o.payload ?? icmpv6Message(128, new Uint8Array([0, 1, 0, 1, 9, 9, 9, 9]));
  const p = new Uint8Array(40 + payload.length);
  p[0] = 0x60;
  p[4] = payload.length >>> 8;
  p[5] = payload.length & 0xff;
  p[6] = o.nextHeader ?? 58;
  p[7] = o.hopLimit ?? 64;
  const s = ip6(o.src);
  const d = ip6(o.dst);
  for (let w = 0; w < 4; w++) {
    for (let b = 0; b < 4; b++) {
      p[8 + w * 4 + b] = (s[w] >>> (24 - 8 * b)) & 0xff;
      p[24 + w * 4 + b] = (d[w] >>> (24 - 8 * b)) & 0xff;
    }
  }
  p.set(payload, 40);
  if (p[6] === 58) {
    p[42] = 0;
    p[43] = 0;
    const sum = internetChecksum(p, 40, payload.length, ipv6PseudoSumAt(p, 0, 58, payload.length));
    p[42] = sum >>> 8;
    p[43] = sum & 0xff;
  }
  return p;
}

/** An ICMPv6 message of `type` (checksum filled in by ipv6Packet) with `body` after the 4-byte header. */
export function icmpv6Message(type: number, body: Uint8Array, code = 0): Uint8Array {
  const m = new Uint8Array(4 + body.length);
  m[0] = type;
  m[1] = code;
  m.set(body, 4);
  return m;
}

/** An Ethernet frame around `payload`. */
export function frame(dst: number, src: number, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  for (let b = 0; b < 6; b++) {
    f[b] = Math.floor(dst / 2 ** (40 - 8 * b)) & 0xff;
    f[6 + b] = Math.floor(src / 2 ** (40 - 8 * b)) & 0xff;
  }
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

export interface Sent {
  ifIndex: number;
  bytes: Uint8Array;
}

/** A router built from `config` whose output is collected in `sent`. */
export function testRouter(config: unknown): {
  router: VirtualRouter;
  sent: Sent[];
  arena: PacketArena;
} {
  const arena = new PacketArena(8 << 20);
  const made = VirtualRouter.create(config, { arena, batchSize: 64 });
  if (!made.ok) throw new Error(made.errors.join("; "));
  const sent: Sent[] = [];
  made.router.setTransmit((ifIndex, batch) => {
    for (let i = 0; i < batch.count; i++) {
      const s = batch.start(i);
      sent.push({ ifIndex, bytes: batch.arena.slice(s, s + batch.lengths[i]) });
    }
  });
  return { router: made.router, sent, arena };
}

/** Puts `packets` in a batch of `arena`. */
export function batchOf(arena: PacketArena, packets: Uint8Array[]): PacketBatch {
  const b = arena.batch(Math.max(1, packets.length));
  for (const p of packets) {
    const i = b.reserve(p.length);
    if (i < 0) throw new Error("packet does not fit the batch");
    b.arena.set(p, b.start(i));
  }
  return b;
}
