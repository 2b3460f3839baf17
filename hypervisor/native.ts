/**
 * The hypervisor's substrate links, typed: TUN/TAP devices, io_uring packet
 * queues over them and batched UDP sockets (for VXLAN, RFC 7348), from the
 * project's own C++ addon in `hypervisor/native/` (built by node-gyp into
 * `build/Release/vroom_native.node` at `npm install`).
 *
 * The addon is loaded on first use, not at import, so modules that only
 * mention these types load anywhere; using it when it is not built throws one
 * `NativeAddonMissingError` that says how to build it.
 *
 * UdpSocket sends runs of same-size datagrams to one destination as UDP GSO
 * messages and, after enableGro(), splits coalesced datagrams on receive.
 *
 * Batches: packet i of a batch lives at `buf[i * stride, i * stride +
 * lengths[i])` in a caller-owned Uint8Array; receive fills `lengths`, send
 * reads it (a packet of length 0 is a hole and is skipped, and only each
 * packet's own bytes must lie inside `buf`). Neither side allocates per
 * packet. Calls never block: receive
 * returns 0 when nothing waits, send returns how many packets it accepted and
 * counts the refused rest as `txDropped`. `onReadable(cb)` runs `cb` on the
 * main thread while packets wait (level-triggered: drain with receive, or the
 * callback runs again on the next loop turn); while a callback is registered
 * the object keeps the process alive unless `unref()` was called, and after
 * `close()` it never does.
 *
 * Errors from the system carry the operation, the device or address and the
 * errno name, e.g. `openTun vr0: EPERM (Operation not permitted)`, with
 * `code`, `errno` and `syscall` set like Node's own system errors.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export type DeviceKind = "tun" | "tap";
export type QueueMode = "uring" | "rw";

export interface TunDevice {
  /** The device's file descriptor (non-blocking); close it with closeFd. */
  fd: number;
  /** The device's name, as the kernel chose it when "" was asked for. */
  name: string;
}

export interface LinkStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Packets send() refused because every tx buffer (or the socket) was busy. */
  txDropped: number;
  /** Failed, empty or oversized reads (dropped). */
  rxErrors: number;
  /** Writes the kernel failed, or packets no device could take (dropped). */
  txErrors: number;
}

/** A UdpSocket's segmentation offloads (Linux UDP GSO and GRO) and what they did. */
export interface UdpOffloads {
  /** Sends still group datagrams with UDP_SEGMENT (off once the kernel refused it). */
  gso: boolean;
  /** UDP_GRO is on (enableGro): received datagrams may arrive coalesced. */
  gro: boolean;
  /** Messages sent with UDP_SEGMENT, and the datagrams they carried. */
  gsoMessages: number;
  gsoSegments: number;
  /** Coalesced datagrams received, and the datagrams split out of them. */
  groMessages: number;
  groSegments: number;
}

export interface PacketQueueOptions {
  /** Reads kept in flight (mode "uring"); default 64. */
  slots?: number;
  /** Bytes per packet buffer, at least the link MTU (+14 on TAP); default 2048. */
  slotSize?: number;
  /** Tx buffers (mode "uring"); default `slots`. */
  txSlots?: number;
  /** "uring" (default) or "rw": one read()/write() per packet, the baseline. */
  mode?: QueueMode;
}

/** A system error from the addon. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

interface NativePacketQueue {
  onReadable(cb: (() => void) | null): void;
  receive(buf: Uint8Array, lengths: Uint32Array, stride: number, max: number): number;
  send(buf: Uint8Array, lengths: Uint32Array, stride: number, count: number): number;
  stats(): LinkStats;
  close(): void;
  ref(): void;
  unref(): void;
}

interface NativeUdpSocket {
  onReadable(cb: (() => void) | null): void;
  receive(
    buf: Uint8Array,
    lengths: Uint32Array,
    stride: number,
    max: number,
    srcAddrs: Uint32Array,
    srcPorts: Uint16Array,
  ): number;
  send(
    buf: Uint8Array,
    lengths: Uint32Array,
    stride: number,
    count: number,
    dstAddrs: Uint32Array,
    dstPorts: Uint16Array,
  ): number;
  stats(): LinkStats;
  offloads(): UdpOffloads;
  enableGro(): boolean;
  pending(): boolean;
  close(): void;
  localPort(): number;
  family(): 4 | 6;
  ref(): void;
  unref(): void;
}

interface NativeBinding {
  openTun(name: string, kind: DeviceKind): TunDevice;
  closeFd(fd: number): void;
  setLinkUp(name: string, up: boolean): void;
  setMtu(name: string, mtu: number): void;
  getMtu(name: string): number;
  setTxQueueLen(name: string, len: number): void;
  getMac(name: string): Uint8Array;
  setMac(name: string, mac: Uint8Array): void;
  ifIndex(name: string): number;
  PacketQueue: new (
    fd: number,
    slots: number,
    slotSize: number,
    mode: QueueMode,
    txSlots: number,
  ) => NativePacketQueue;
  UdpSocket: new (bindAddress: string, port: number) => NativeUdpSocket;
}

/** Where node-gyp puts the addon (repository root / build / Release). */
export const ADDON_PATH = fileURLToPath(
  new URL("../build/Release/vroom_native.node", import.meta.url),
);

export class NativeAddonMissingError extends Error {
  constructor(cause: unknown) {
    const why = existsSync(ADDON_PATH)
      ? `it failed to load: ${cause instanceof Error ? cause.message : String(cause)}`
      : "it is not built";
    super(
      `vroom native addon ${ADDON_PATH}: ${why}. Build it with \`npm install\` (or \`npm rebuild\`) ` +
        "after `bash tools/setup.sh` has installed g++, python3 and liburing-dev.",
      { cause },
    );
    this.name = "NativeAddonMissingError";
  }
}

let binding: NativeBinding | undefined;

/** The raw addon; throws NativeAddonMissingError when it is not built. */
export function loadNative(): NativeBinding {
  if (binding !== undefined) return binding;
  try {
    binding = createRequire(import.meta.url)(ADDON_PATH) as NativeBinding;
  } catch (e) {
    throw new NativeAddonMissingError(e);
  }
  return binding;
}

/** Whether the addon is built and loads (for tests that skip without it). */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens /dev/net/tun and attaches or creates device `name` ("" lets the
 * kernel choose) as a TUN (IP packets) or TAP (Ethernet frames), without
 * packet information headers. A device created here disappears when its fd
 * is closed (closeFd, once every queue on it is closed).
 */
export function openTun(name: string, kind: DeviceKind): TunDevice {
  return loadNative().openTun(name, kind);
}

export function closeFd(fd: number): void {
  loadNative().closeFd(fd);
}

/** Link settings, through ioctls in this process's network namespace. */
export function setLinkUp(name: string, up: boolean): void {
  loadNative().setLinkUp(name, up);
}

export function setMtu(name: string, mtu: number): void {
  loadNative().setMtu(name, mtu);
}

export function getMtu(name: string): number {
  return loadNative().getMtu(name);
}

export function setTxQueueLen(name: string, len: number): void {
  loadNative().setTxQueueLen(name, len);
}

/** The hardware address (6 bytes; zeros on a TUN device). */
export function getMac(name: string): Uint8Array {
  return loadNative().getMac(name);
}

/** Sets the hardware address of a TAP (or any Ethernet) device. */
export function setMac(name: string, mac: Uint8Array): void {
  loadNative().setMac(name, mac);
}

export function ifIndex(name: string): number {
  return loadNative().ifIndex(name);
}

/**
 * Batched packet I/O on a TUN/TAP fd. Mode "uring" keeps `slots` reads in
 * flight on an io_uring and submits each batch of writes with one system
 * call; mode "rw" does one read() or write() per packet. The queue does not
 * own the fd: close the queue, then the fd.
 */
export class PacketQueue {
  readonly fd: number;
  readonly mode: QueueMode;
  readonly slots: number;
  readonly slotSize: number;
  readonly txSlots: number;
  readonly #q: NativePacketQueue;

  constructor(fd: number, options: PacketQueueOptions = {}) {
    this.fd = fd;
    this.mode = options.mode ?? "uring";
    this.slots = options.slots ?? 64;
    this.slotSize = options.slotSize ?? 2048;
    this.txSlots = options.txSlots ?? this.slots;
    const { PacketQueue: Native } = loadNative();
    this.#q = new Native(fd, this.slots, this.slotSize, this.mode, this.txSlots);
  }

  /** Runs `callback` while packets wait; `null` stops notifications. */
  onReadable(callback: (() => void) | null): void {
    this.#q.onReadable(callback);
  }

  /** Copies up to `max` waiting packets into the batch; returns the count. */
  receive(buf: Uint8Array, lengths: Uint32Array, stride: number, max: number): number {
    return this.#q.receive(buf, lengths, stride, max);
  }

  /**
   * Queues packets 0..count-1 of the batch for the device and returns how many
   * it accepted (the first ones); the rest are refused and counted as
   * txDropped. A packet longer than slotSize is accepted, dropped and counted
   * as a txError.
   */
  send(buf: Uint8Array, lengths: Uint32Array, stride: number, count: number): number {
    return this.#q.send(buf, lengths, stride, count);
  }

  stats(): LinkStats {
    return this.#q.stats();
  }

  /** Stops notifications, cancels reads in flight, frees buffers; idempotent. */
  close(): void {
    this.#q.close();
  }

  /** Lets the process exit even while a callback is registered. */
  unref(): this {
    this.#q.unref();
    return this;
  }

  ref(): this {
    this.#q.ref();
    return this;
  }
}

/**
 * A batched, non-blocking UDP socket (recvmmsg/sendmmsg). IPv4 addresses are
 * uint32 in host order (see ipv4ToUint32); on an IPv6 socket (bind address
 * with a colon) each address takes 4 uint32 (the 16 bytes, 4 at a time, each
 * read big-endian), so address arrays hold 4 × max elements.
 */
export class UdpSocket {
  readonly #s: NativeUdpSocket;

  constructor(bindAddress: string, port: number) {
    const { UdpSocket: Native } = loadNative();
    this.#s = new Native(bindAddress, port);
  }

  onReadable(callback: (() => void) | null): void {
    this.#s.onReadable(callback);
  }

  /** Receives up to `max` datagrams with their source addresses and ports. */
  receive(
    buf: Uint8Array,
    lengths: Uint32Array,
    stride: number,
    max: number,
    srcAddrs: Uint32Array,
    srcPorts: Uint16Array,
  ): number {
    return this.#s.receive(buf, lengths, stride, max, srcAddrs, srcPorts);
  }

  /**
   * Sends datagrams 0..count-1; returns how many were consumed (sent, or
   * failed and counted as txErrors). When the socket buffer is full the
   * rest are refused and counted as txDropped. Consecutive datagrams to one
   * destination, all of one length but the last (which may be shorter), go
   * to the kernel as one UDP GSO message (UDP_SEGMENT, up to 64 datagrams
   * and 64 KiB), cut back into the same datagrams on the wire; a socket
   * whose kernel refuses that sends one datagram a message from then on.
   */
  send(
    buf: Uint8Array,
    lengths: Uint32Array,
    stride: number,
    count: number,
    dstAddrs: Uint32Array,
    dstPorts: Uint16Array,
  ): number {
    return this.#s.send(buf, lengths, stride, count, dstAddrs, dstPorts);
  }

  stats(): LinkStats {
    return this.#s.stats();
  }

  offloads(): UdpOffloads {
    return this.#s.offloads();
  }

  /**
   * Turns UDP GRO on (Linux 5.0+): the kernel may then hand over several
   * same-size datagrams as one, which receive() splits back into one packet
   * a slot (copying each once, from 64 KiB buffers of the socket's own).
   * Answers whether the kernel took it.
   */
  enableGro(): boolean {
    return this.#s.enableGro();
  }

  /**
   * Whether datagrams already read from the socket wait for the next
   * receive() (with GRO, when a coalesced one did not fit the batch): the
   * socket is not readable for them, so call receive() again.
   */
  pending(): boolean {
    return this.#s.pending();
  }

  localPort(): number {
    return this.#s.localPort();
  }

  family(): 4 | 6 {
    return this.#s.family();
  }

  close(): void {
    this.#s.close();
  }

  unref(): this {
    this.#s.unref();
    return this;
  }

  ref(): this {
    this.#s.ref();
    return this;
  }
}

/** "198.18.0.1" → 0xc6120001 (host order), or throws on anything else. */
export function ipv4ToUint32(address: string): number {
  const parts = address.split(".");
  if (parts.length !== 4) throw new TypeError(`not an IPv4 address: ${address}`);
  let v = 0;
  for (const p of parts) {
    const n = Number(p);
    if (!/^\d{1,3}$/.test(p) || n > 255) throw new TypeError(`not an IPv4 address: ${address}`);
    v = v * 256 + n;
  }
  return v;
}

/** 0xc6120001 → "198.18.0.1". */
export function uint32ToIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}
