/**
 * VXLAN links (L2 over UDP, RFC 7348), interoperating with the Linux
 * kernel's `vxlan` devices.
 *
 * One `VxlanEndpoint` per hypervisor owns one batched `UdpSocket` (port 4789,
 * the IANA port of RFC 7348 section 5, by default) and demultiplexes the
 * datagrams it receives by VNI to its `VxlanLink`s, one VNI a link (one
 * VXLAN segment, section 4). Received datagrams land at the slot start of
 * the endpoint's batch; the 8-octet header is validated in place (at least 8
 * octets, the I flag set: section 5 says I MUST be 1; the reserved bits are
 * ignored) and the batch's headroom is set past it, so the inner frames are
 * handed on without a copy. A batch carrying several VNIs is handed to each
 * link in turn with the other links' frames as holes. Bad datagrams (short,
 * no I flag, unknown VNI, an inner frame shorter than an Ethernet header) are
 * dropped and counted; nothing on the receive path throws.
 *
 * Each link has a list of remote VTEPs: frames to a broadcast, multicast or
 * unknown destination MAC are flooded to all of them, like the kernel's
 * all-zero fdb entries (`bridge fdb append 00:00:00:00:00:00 dst ...`, the
 * head-end replication of section 4.2's unicast alternative). With learning
 * on (the default, section 4.1: "learns the mapping of the inner source MAC
 * to the outer source IP"), a frame to a learned MAC goes to that VTEP only;
 * learned entries age out (300 s by default, the kernel's `ageing`).
 *
 * The socket runs UDP GRO (unless `gro: false`): coalesced datagrams come
 * back split, one per slot, so nothing here sees them; after a drain that ran
 * out of budget with split datagrams still waiting in the socket, the drain
 * is run again on the next loop turn.
 *
 * tx writes the header into the batch's headroom (`batch.headroom >= 8`)
 * and sends each frame with `UdpSocket.send` to the remote VTEP's port 4789
 * (the kernel vxlan `dstport`), straight from the batch; a batch with less
 * headroom is copied into the endpoint's own. The UDP source port is the
 * endpoint's (section 5 recommends a hash of the inner flow for ECMP; one
 * socket cannot do that, and receivers must accept any source port). The
 * socket sends a run of same-size datagrams to one VTEP as one UDP GSO
 * message, so a batch of one flow costs the kernel one route lookup.
 * IPv4 and IPv6 underlays both work: an endpoint bound to an IPv6 address
 * takes IPv4 remotes as IPv4-mapped addresses.
 */

import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "../../fib/prefix.ts";
import { DEFAULT_STRIDE, type PacketArena, type PacketBatch } from "../../router/batch.ts";
import { read24, read48 } from "../../router/wire/bytes.ts";
import { ETH_HEADER_LEN } from "../../router/wire/ethernet.ts";
import {
  VXLAN_FLAG_I,
  VXLAN_HEADER_LEN,
  VXLAN_PORT,
  VXLAN_VNI_MAX,
  writeVxlanHeader,
} from "../../router/wire/vxlan.ts";
import { HypervisorError } from "../errors.ts";
import { DropCounts, type Link, type LinkStats, type ReceiveHandler } from "../link.ts";
import { type LinkStats as SocketStats, UdpSocket } from "../native.ts";

export interface VxlanEndpointOptions {
  /** Where the endpoint's receive and copy batches live. */
  arena: PacketArena;
  /** Local address to bind; default "0.0.0.0" ("::" for an IPv6 underlay). */
  address?: string;
  /** Local UDP port; default 4789 (0: any). */
  port?: number;
  /** Slots of the receive batch; default 64. */
  batchSize?: number;
  stride?: number;
  /** Batches handed on per wake-up before yielding; default 8. */
  budget?: number;
  clock?: () => number;
  /** Let the process exit while the endpoint is open (default false). */
  unref?: boolean;
  /** Ask the kernel for UDP GRO (coalesced receives, split by the socket); default true. */
  gro?: boolean;
}

export interface VxlanLinkOptions {
  name: string;
  /** VXLAN network identifier, 0..0xFFFFFF. */
  vni: number;
  /** Remote VTEP addresses: unknown and broadcast frames are flooded to each. */
  remotes?: string[];
  /** UDP port of the remote VTEPs; default 4789. */
  remotePort?: number;
  /** Learn inner source MAC -> outer source address (default true). */
  learning?: boolean;
  /** Age of learned entries, ms; default 300 000. */
  ageMs?: number;
  /** Learned MAC addresses kept at most; default 4096. */
  maxLearned?: number;
}

export interface VxlanEndpointStats {
  /** The socket's own counters (datagrams, including flood copies and bad ones). */
  socket: SocketStats;
  /** Datagrams dropped before any link: "truncated", "no-vni" (I flag clear), "unknown-vni". */
  drops: Record<string, number>;
}

/** VTEPs a link may learn beyond its configured remotes. */
const MAX_LEARNED_VTEPS = 64;

interface FdbEntry {
  vtep: number;
  seen: number;
}

export class VxlanEndpoint {
  readonly socket: UdpSocket;
  /** The bound local port. */
  readonly port: number;
  readonly family: 4 | 6;
  /** Address words per address: 1 (IPv4) or 4 (IPv6). */
  readonly words: number;
  readonly #links = new Map<number, VxlanLink>();
  readonly #rx: PacketBatch;
  readonly #arena: PacketArena;
  readonly #copy: PacketBatch;
  readonly #srcAddrs: Uint32Array;
  readonly #srcPorts: Uint16Array;
  readonly #owners: (VxlanLink | null)[];
  readonly #saved: Uint32Array;
  #txLengths = new Uint32Array(0);
  #txAddrs = new Uint32Array(0);
  #txPorts = new Uint16Array(0);
  #txFlood = new Uint8Array(0);
  #lastBytes = 0;
  readonly #budget: number;
  readonly clock: () => number;
  readonly #drops = new DropCounts();
  #closed = false;

  constructor(options: VxlanEndpointOptions) {
    const batchSize = options.batchSize ?? 64;
    const stride = options.stride ?? DEFAULT_STRIDE;
    this.#budget = options.budget ?? 8;
    this.clock = options.clock ?? (() => performance.now());
    this.socket = new UdpSocket(options.address ?? "0.0.0.0", options.port ?? VXLAN_PORT);
    try {
      this.port = this.socket.localPort();
      this.family = this.socket.family();
      this.words = this.family === 4 ? 1 : 4;
      this.#rx = options.arena.batch(batchSize, stride);
      this.#copy = options.arena.batch(batchSize, stride);
      this.#arena = options.arena;
    } catch (e) {
      this.socket.close();
      throw e;
    }
    this.#copy.headroom = VXLAN_HEADER_LEN;
    this.#srcAddrs = new Uint32Array(batchSize * this.words);
    this.#srcPorts = new Uint16Array(batchSize);
    this.#owners = new Array<VxlanLink | null>(batchSize).fill(null);
    this.#saved = new Uint32Array(batchSize);
    this.#grow(batchSize);
    if (options.gro ?? true) this.socket.enableGro();
    if (options.unref) this.socket.unref();
    this.socket.onReadable(this.#drain);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A new link for one VNI; throws on a VNI already served or a bad address. */
  link(options: VxlanLinkOptions): VxlanLink {
    if (this.#closed) throw new HypervisorError("Closed", "VXLAN endpoint is closed");
    const { vni } = options;
    if (!Number.isInteger(vni) || vni < 0 || vni > VXLAN_VNI_MAX) {
      throw new HypervisorError("BadArgument", `VNI ${vni} is not in 0..${VXLAN_VNI_MAX}`);
    }
    const other = this.#links.get(vni);
    if (other !== undefined) {
      throw new HypervisorError("DuplicateLink", `VNI ${vni} already has link ${other.name}`);
    }
    const link = new VxlanLink(this, options);
    this.#links.set(vni, link);
    return link;
  }

  /** The link of a VNI. */
  get(vni: number): VxlanLink | undefined {
    return this.#links.get(vni);
  }

  links(): VxlanLink[] {
    return [...this.#links.values()];
  }

  /** Address text -> words in this endpoint's family, or throws BadArgument. */
  parseAddress(text: string): Uint32Array {
    const v4 = parseIPv4(text);
    if (this.family === 4) {
      if (v4 === undefined) {
        throw new HypervisorError("BadArgument", `${text} is not an IPv4 address (IPv4 endpoint)`);
      }
      return Uint32Array.of(v4);
    }
    if (v4 !== undefined) return Uint32Array.of(0, 0, 0xffff, v4);
    const v6 = parseIPv6(text);
    if (v6 === undefined) throw new HypervisorError("BadArgument", `${text} is not an IP address`);
    return v6;
  }

  formatAddress(words: Uint32Array, at: number): string {
    if (this.family === 4) return formatIPv4(words[at]);
    if (words[at] === 0 && words[at + 1] === 0 && words[at + 2] === 0xffff) {
      return formatIPv4(words[at + 3]);
    }
    return formatIPv6(words, at);
  }

  stats(): VxlanEndpointStats {
    return { socket: this.socket.stats(), drops: this.#drops.snapshot() };
  }

  /** Closes every link and the socket; idempotent. */
  close(): void {
    if (this.#closed) return;
    for (const link of this.#links.values()) link.close();
    this.#closed = true;
    this.socket.close();
    this.#arena.release(this.#rx);
    this.#arena.release(this.#copy);
  }

  /** @internal A link closes: its VNI is free again. */
  forget(link: VxlanLink): void {
    if (this.#links.get(link.vni) === link) this.#links.delete(link.vni);
  }

  // ---- rx --------------------------------------------------------------------

  readonly #drain = (): void => {
    const rx = this.#rx;
    for (let k = 0; k < this.#budget && !this.#closed; k++) {
      rx.headroom = 0;
      const n = this.socket.receive(
        rx.view,
        rx.lengths,
        rx.stride,
        rx.capacity,
        this.#srcAddrs,
        this.#srcPorts,
      );
      if (n === 0) return;
      this.#dispatch(rx, n, this.clock());
      if (n < rx.capacity) return;
    }
    // Out of budget: the socket's poll calls again while it is readable, but
    // datagrams it already read (GRO splits that did not fit) need a nudge.
    if (!this.#closed && this.socket.pending()) setImmediate(this.#drain);
  };

  #dispatch(rx: PacketBatch, n: number, now: number): void {
    const { arena, stride, lengths } = rx;
    const owners = this.#owners;
    let first: VxlanLink | null = null;
    let mixed = false;
    for (let i = 0; i < n; i++) {
      const off = rx.base + i * stride;
      const len = lengths[i];
      let link: VxlanLink | null = null;
      if (len < VXLAN_HEADER_LEN) this.#drops.add("truncated");
      else if ((arena[off] & VXLAN_FLAG_I) === 0) this.#drops.add("no-vni");
      else {
        link = this.#links.get(read24(arena, off + 4)) ?? null;
        if (link === null) this.#drops.add("unknown-vni");
        else if (len - VXLAN_HEADER_LEN < ETH_HEADER_LEN) {
          link.drops.add("runt");
          link = null;
        } else if (link.learning) {
          link.learn(arena, off + VXLAN_HEADER_LEN, this.#srcAddrs, i * this.words, now);
        }
      }
      owners[i] = link;
      lengths[i] = link === null ? 0 : len - VXLAN_HEADER_LEN;
      if (link !== null) {
        if (first === null) first = link;
        else if (link !== first) mixed = true;
      }
    }
    if (first === null) return;
    rx.headroom = VXLAN_HEADER_LEN;
    rx.count = n;
    if (!mixed) {
      first.deliver(rx, now);
      return;
    }
    // Several VNIs in one batch: each link in turn, the others' frames as holes.
    const saved = this.#saved;
    saved.set(lengths.subarray(0, n));
    const done = new Set<VxlanLink>();
    for (let i = 0; i < n; i++) {
      const link = owners[i];
      if (link === null || done.has(link)) continue;
      done.add(link);
      for (let j = 0; j < n; j++) lengths[j] = owners[j] === link ? saved[j] : 0;
      rx.headroom = VXLAN_HEADER_LEN;
      rx.count = n;
      link.deliver(rx, now);
    }
  }

  // ---- tx --------------------------------------------------------------------

  #grow(n: number): void {
    if (this.#txLengths.length >= n) return;
    this.#txLengths = new Uint32Array(n);
    this.#txAddrs = new Uint32Array(n * this.words);
    this.#txPorts = new Uint16Array(n);
    this.#txFlood = new Uint8Array(n);
  }

  /** @internal Sends `batch` on `link`; answers the frames accepted. */
  send(link: VxlanLink, batch: PacketBatch): number {
    if (this.#closed) return 0;
    const first = batch.start(0) - VXLAN_HEADER_LEN;
    if (
      batch.headroom >= VXLAN_HEADER_LEN &&
      first + batch.count * batch.stride <= batch.arena.length
    ) {
      return this.#sendFramed(link, batch);
    }
    return this.#sendCopied(link, batch);
  }

  /** Copies the frames into the endpoint's batch (8 bytes of headroom), a batch at a time. */
  #sendCopied(link: VxlanLink, batch: PacketBatch): number {
    const copy = this.#copy;
    copy.clear();
    let accepted = 0;
    const { arena, lengths, count } = batch;
    for (let i = 0; i < count; i++) {
      const len = lengths[i];
      if (len === 0) continue;
      if (len > copy.room()) {
        link.drops.add("too-big");
        continue;
      }
      if (copy.count === copy.capacity) {
        accepted += this.#sendFramed(link, copy);
        copy.clear();
      }
      const start = batch.start(i);
      copy.arena.set(arena.subarray(start, start + len), copy.start(copy.reserve(len)));
    }
    if (copy.count > 0) accepted += this.#sendFramed(link, copy);
    copy.clear();
    return accepted;
  }

  /** Headers into the headroom, destinations per frame, then one send per run (and flood copies). */
  #sendFramed(link: VxlanLink, batch: PacketBatch): number {
    const { arena, lengths, stride } = batch;
    const n = batch.count;
    this.#grow(n);
    const txLengths = this.#txLengths;
    const txAddrs = this.#txAddrs;
    const txPorts = this.#txPorts;
    const flood = this.#txFlood;
    const now = link.learnedCount() > 0 ? this.clock() : 0;
    const floodTo = link.floodCount();
    let frames = 0;
    let floods = 0;
    for (let i = 0; i < n; i++) {
      const len = lengths[i];
      txLengths[i] = 0;
      flood[i] = 0;
      if (len === 0) continue;
      const off = batch.start(i);
      let vtep = len >= 6 ? link.lookup(arena, off, now) : -1;
      if (vtep < 0) {
        if (floodTo === 0) {
          link.drops.add("no-remote");
          continue;
        }
        vtep = 0;
        flood[i] = 1;
        floods++;
      }
      writeVxlanHeader(arena, off - VXLAN_HEADER_LEN, link.vni);
      txLengths[i] = len + VXLAN_HEADER_LEN;
      link.copyVtep(vtep, txAddrs, i * this.words);
      txPorts[i] = link.remotePort;
      frames++;
    }
    if (frames === 0) return 0;
    const buf = arena.subarray(batch.start(0) - VXLAN_HEADER_LEN);
    let accepted = 0;
    let bytes = 0;
    if (floods === 0 || floodTo === 1) {
      accepted = this.#sendRuns(buf, stride, 0, n);
      bytes = this.#lastBytes;
    } else {
      // Head-end replication in order: each run of flooded frames goes to every
      // remote before any later frame goes anywhere, so no VTEP sees reordering.
      let pos = 0;
      while (pos < n) {
        let f = pos;
        while (f < n && flood[f] === 0) f++;
        let g = f;
        while (g < n && flood[g] === 1) g++;
        accepted += this.#sendRuns(buf, stride, pos, g);
        bytes += this.#lastBytes;
        for (let r = 1; r < floodTo && f < g; r++) {
          for (let i = f; i < g; i++) link.copyVtep(r, txAddrs, i * this.words);
          link.drops.add("flood-refused", g - f - this.#sendRuns(buf, stride, f, g));
        }
        pos = g;
      }
    }
    link.counted(accepted, bytes, frames - accepted);
    return accepted;
  }

  /** Sends the non-empty datagrams from..to-1 of the tx arrays in runs; answers how many were accepted. */
  #sendRuns(buf: Uint8Array, stride: number, from: number, to: number): number {
    const txLengths = this.#txLengths;
    const w = this.words;
    let accepted = 0;
    let bytes = 0;
    let i = from;
    while (i < to) {
      if (txLengths[i] === 0) {
        i++;
        continue;
      }
      let end = i + 1;
      while (end < to && txLengths[end] !== 0) end++;
      const k = end - i;
      const got =
        i === 0
          ? this.socket.send(buf, txLengths, stride, k, this.#txAddrs, this.#txPorts)
          : this.socket.send(
              buf.subarray(i * stride),
              txLengths.subarray(i),
              stride,
              k,
              this.#txAddrs.subarray(i * w),
              this.#txPorts.subarray(i),
            );
      for (let j = i; j < i + got; j++) bytes += txLengths[j] - VXLAN_HEADER_LEN;
      accepted += got;
      i = end;
    }
    this.#lastBytes = bytes;
    return accepted;
  }
}

/** One VXLAN segment (VNI) of an endpoint, with its remote VTEPs. */
export class VxlanLink implements Link {
  readonly name: string;
  readonly layer = "l2" as const;
  readonly vni: number;
  readonly endpoint: VxlanEndpoint;
  readonly remotePort: number;
  readonly learning: boolean;
  readonly ageMs: number;
  readonly maxLearned: number;
  /** @internal */
  readonly drops = new DropCounts();
  /** VTEP addresses, `words` each: the configured remotes first, then learned ones. */
  #vteps = new Uint32Array(0);
  #vtepCount = 0;
  #floodCount = 0;
  readonly #fdb = new Map<number, FdbEntry>();
  #handler: ReceiveHandler | null = null;
  #closed = false;
  #rxPackets = 0;
  #rxBytes = 0;
  #txPackets = 0;
  #lastBytes = 0;

  /** Made by `VxlanEndpoint.link`. */
  constructor(endpoint: VxlanEndpoint, options: VxlanLinkOptions) {
    this.endpoint = endpoint;
    this.name = options.name;
    this.vni = options.vni;
    this.remotePort = options.remotePort ?? VXLAN_PORT;
    this.learning = options.learning ?? true;
    this.ageMs = options.ageMs ?? 300_000;
    this.maxLearned = options.maxLearned ?? 4096;
    this.setRemotes(options.remotes ?? []);
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- remote VTEPs (the flood list) -------------------------------------------

  /** The configured remote VTEPs, as text. */
  remotes(): string[] {
    const w = this.endpoint.words;
    return Array.from({ length: this.#floodCount }, (_, i) =>
      this.endpoint.formatAddress(this.#vteps, i * w),
    );
  }

  /** Replaces the flood list (forgets what was learned). Throws on a bad address. */
  setRemotes(remotes: readonly string[]): void {
    const w = this.endpoint.words;
    const parsed = remotes.map((r) => this.endpoint.parseAddress(r));
    const vteps = new Uint32Array((parsed.length + MAX_LEARNED_VTEPS) * w);
    let count = 0;
    for (const words of parsed) {
      if (this.#find(vteps, count, words, 0) >= 0) continue;
      vteps.set(words, count * w);
      count++;
    }
    this.#vteps = vteps;
    this.#vtepCount = count;
    this.#floodCount = count;
    this.#fdb.clear();
  }

  /** Adds a remote VTEP (like `bridge fdb append 00:00:00:00:00:00 ... dst`). */
  addRemote(address: string): void {
    const list = this.remotes();
    const text = this.endpoint.formatAddress(this.endpoint.parseAddress(address), 0);
    if (!list.includes(text)) this.setRemotes([...list, text]);
  }

  /** Removes a remote VTEP; answers whether it was there. */
  removeRemote(address: string): boolean {
    const text = this.endpoint.formatAddress(this.endpoint.parseAddress(address), 0);
    const list = this.remotes();
    if (!list.includes(text)) return false;
    this.setRemotes(list.filter((r) => r !== text));
    return true;
  }

  /** Learned MAC -> VTEP entries (for inspection). */
  learned(): { mac: number; vtep: string }[] {
    return [...this.#fdb].map(([mac, e]) => ({
      mac,
      vtep: this.endpoint.formatAddress(this.#vteps, e.vtep * this.endpoint.words),
    }));
  }

  /** @internal */
  floodCount(): number {
    return this.#floodCount;
  }

  /** @internal */
  learnedCount(): number {
    return this.#fdb.size;
  }

  #find(vteps: Uint32Array, count: number, words: Uint32Array, at: number): number {
    const w = this.endpoint.words;
    for (let v = 0; v < count; v++) {
      let same = true;
      for (let k = 0; k < w; k++) {
        if (vteps[v * w + k] !== words[at + k]) {
          same = false;
          break;
        }
      }
      if (same) return v;
    }
    return -1;
  }

  #isVtep(v: number, words: Uint32Array, at: number): boolean {
    const w = this.endpoint.words;
    for (let k = 0; k < w; k++) if (this.#vteps[v * w + k] !== words[at + k]) return false;
    return true;
  }

  /** @internal Writes VTEP `v`'s address words at `addrs[at]`. */
  copyVtep(v: number, addrs: Uint32Array, at: number): void {
    const w = this.endpoint.words;
    if (w === 1) addrs[at] = this.#vteps[v];
    else for (let k = 0; k < w; k++) addrs[at + k] = this.#vteps[v * w + k];
  }

  /** @internal The VTEP of the frame's destination MAC, or -1 (flood). */
  lookup(arena: Uint8Array, frame: number, now: number): number {
    if ((arena[frame] & 1) !== 0 || this.#fdb.size === 0) return -1; // group address: flood
    const mac = read48(arena, frame);
    const e = this.#fdb.get(mac);
    if (e === undefined) return -1;
    if (now - e.seen > this.ageMs) {
      this.#fdb.delete(mac);
      return -1;
    }
    return e.vtep;
  }

  /** @internal Learns the frame's source MAC at the datagram's source address. */
  learn(arena: Uint8Array, frame: number, srcAddrs: Uint32Array, at: number, now: number): void {
    if ((arena[frame + 6] & 1) !== 0) return; // a group source address is not learned
    const mac = read48(arena, frame + 6);
    const e = this.#fdb.get(mac);
    if (e !== undefined && this.#isVtep(e.vtep, srcAddrs, at)) {
      e.seen = now;
      return;
    }
    let v = this.#find(this.#vteps, this.#vtepCount, srcAddrs, at);
    if (v < 0) {
      if (this.#vtepCount * this.endpoint.words >= this.#vteps.length) return; // VTEP table full
      v = this.#vtepCount++;
      const w = this.endpoint.words;
      for (let k = 0; k < w; k++) this.#vteps[v * w + k] = srcAddrs[at + k];
    }
    if (e !== undefined) {
      e.vtep = v;
      e.seen = now;
      return;
    }
    if (this.#fdb.size >= this.maxLearned) {
      for (const [m, old] of this.#fdb) if (now - old.seen > this.ageMs) this.#fdb.delete(m);
      if (this.#fdb.size >= this.maxLearned) return;
    }
    this.#fdb.set(mac, { vtep: v, seen: now });
  }

  // ---- Link ----------------------------------------------------------------------

  onReceive(handler: ReceiveHandler | null): void {
    this.#handler = this.#closed ? null : handler;
  }

  /** @internal Hands a received batch (headroom past the VXLAN header) to the handler. */
  deliver(batch: PacketBatch, now: number): void {
    let packets = 0;
    let bytes = 0;
    for (let i = 0; i < batch.count; i++) {
      const len = batch.lengths[i];
      if (len !== 0) {
        packets++;
        bytes += len;
      }
    }
    if (this.#handler === null) {
      this.drops.add("no-handler", packets);
      return;
    }
    this.#rxPackets += packets;
    this.#rxBytes += bytes;
    this.#handler(batch, now);
  }

  send(batch: PacketBatch): number {
    if (this.#closed || this.endpoint.closed) {
      let n = 0;
      for (let i = 0; i < batch.count; i++) if (batch.lengths[i] !== 0) n++;
      this.drops.add("closed", n);
      return 0;
    }
    if (batch.count === 0) return 0;
    return this.endpoint.send(this, batch);
  }

  /** @internal Tx accounting of one send. */
  counted(accepted: number, bytes: number, refused: number): void {
    this.#txPackets += accepted;
    this.#lastBytes += bytes;
    this.drops.add("tx-full", refused);
  }

  stats(): LinkStats {
    return {
      rxPackets: this.#rxPackets,
      rxBytes: this.#rxBytes,
      txPackets: this.#txPackets,
      txBytes: this.#lastBytes,
      drops: this.drops.snapshot(),
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = null;
    this.endpoint.forget(this);
  }
}
