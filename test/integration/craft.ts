/**
 * Builders for the hand-made packets the malformed-input tests send: IPv4
 * (RFC 791) and IPv6 (RFC 8200) headers, ICMP echo (RFC 792, RFC 4443),
 * neighbour solicitations (RFC 4861) and Ethernet II frames, with every
 * field open to being set wrong. Plain byte arrays, independent of the
 * router's own wire code (so a bug there cannot hide in both).
 */

export function ipv4Bytes(text: string): number[] {
  return text.split(".").map(Number);
}

export function ipv6Bytes(text: string): number[] {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => {
    const v = Number.parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

export function macBytes(text: string): number[] {
  return text.split(":").map((x) => Number.parseInt(x, 16));
}

/** The Internet checksum (RFC 1071) of `bytes`, with `initial` added in. */
export function checksum(bytes: ArrayLike<number>, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An ICMP (or ICMPv6, `type` 128) echo request, checksum left 0 for ICMPv6. */
export function echoRequest(type = 8, payload = 32): number[] {
  const m = [type, 0, 0, 0, 0x12, 0x34, 0, 1];
  for (let i = 0; i < payload; i++) m.push(i & 0xff);
  if (type === 8) {
    const c = checksum(m);
    m[2] = c >> 8;
    m[3] = c & 0xff;
  }
  return m;
}

export interface Ipv4Options {
  src: string;
  dst: string;
  protocol?: number;
  ttl?: number;
  payload?: number[];
  /** Header length in 32-bit words (default 5 + options). */
  ihl?: number;
  version?: number;
  totalLength?: number;
  options?: number[];
  /** Flip a bit of the (otherwise correct) header checksum. */
  badChecksum?: boolean;
}

export function ipv4(o: Ipv4Options): Uint8Array {
  const options = o.options ?? [];
  const payload = o.payload ?? echoRequest();
  const hl = 20 + options.length;
  const ihl = o.ihl ?? hl / 4;
  const total = o.totalLength ?? hl + payload.length;
  const h = [
    ((o.version ?? 4) << 4) | ihl,
    0,
    total >> 8,
    total & 0xff,
    0x12,
    0x34,
    0x40, // DF
    0,
    o.ttl ?? 64,
    o.protocol ?? 1,
    0,
    0,
    ...ipv4Bytes(o.src),
    ...ipv4Bytes(o.dst),
    ...options,
  ];
  const c = checksum(h) ^ (o.badChecksum ? 1 : 0);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return Uint8Array.from([...h, ...payload]);
}

export interface Ipv6Options {
  src: string;
  dst: string;
  nextHeader?: number;
  hopLimit?: number;
  /** Everything after the fixed header (extension headers included). */
  payload?: number[];
  payloadLength?: number;
  /** Fill in the ICMPv6 checksum of an ICMPv6 message at this offset of the payload. */
  icmpAt?: number;
}

export function ipv6(o: Ipv6Options): Uint8Array {
  const payload = [...(o.payload ?? echoRequest(128))];
  const src = ipv6Bytes(o.src);
  const dst = ipv6Bytes(o.dst);
  const nh = o.nextHeader ?? 58;
  if (o.icmpAt !== undefined) {
    const msg = payload.slice(o.icmpAt);
    msg[2] = 0;
    msg[3] = 0;
    const pseudo = [...src, ...dst, 0, 0, msg.length >> 8, msg.length & 0xff, 0, 0, 0, 58];
    const c = checksum([...pseudo, ...msg]);
    payload[o.icmpAt + 2] = c >> 8;
    payload[o.icmpAt + 3] = c & 0xff;
  }
  const plen = o.payloadLength ?? payload.length;
  return Uint8Array.from([
    0x60,
    0,
    0,
    0,
    plen >> 8,
    plen & 0xff,
    nh,
    o.hopLimit ?? 64,
    ...src,
    ...dst,
    ...payload,
  ]);
}

/** A neighbour solicitation for `target` with a source link-layer address option. */
export function neighborSolicitation(target: string, mac: string): number[] {
  return [135, 0, 0, 0, 0, 0, 0, 0, ...ipv6Bytes(target), 1, 1, ...macBytes(mac)];
}

/** An Ethernet II frame (no padding, no FCS); `tag` inserts an 802.1Q header. */
export function ether(
  dst: string,
  src: string,
  ethertype: number,
  payload: ArrayLike<number>,
  tag?: number,
): Uint8Array {
  return Uint8Array.from([
    ...macBytes(dst),
    ...macBytes(src),
    ...(tag === undefined ? [] : [0x81, 0x00, tag >> 8, tag & 0xff]),
    ethertype >> 8,
    ethertype & 0xff,
    ...Array.from(payload),
  ]);
}

/** An ARP packet (RFC 826) for Ethernet and IPv4; the target MAC is zero. */
export function arp(
  operation: number,
  senderMac: string,
  senderIp: string,
  targetIp: string,
): number[] {
  return [
    0,
    1,
    8,
    0,
    6,
    4,
    0,
    operation,
    ...macBytes(senderMac),
    ...ipv4Bytes(senderIp),
    0,
    0,
    0,
    0,
    0,
    0,
    ...ipv4Bytes(targetIp),
  ];
}
