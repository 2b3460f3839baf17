/**
 * What TUN and TAP links share (Linux's tun/tap driver,
 * Documentation/networking/tuntap.rst): a device opened or created through
 * `openTun`, without packet information headers, configured through ioctls
 * (tx queue length, MTU, link up), and one native `PacketQueue` over its fd
 * (one read and one write per packet by default; see DEFAULT_QUEUE_MODE).
 *
 * rx: while the queue is readable, up to `budget` batches are drained per
 * wake-up into the link's own batch, received at the slot start (headroom
 * 0, so any packet up to the stride fits) and handed to the handler. tx:
 * the batch is written around its holes straight from its arena, one native
 * call for the whole batch (the native queue skips holes).
 *
 * The device is created in this process's network namespace; a test may move
 * it elsewhere (`ip link set ... netns`), its fd keeps working. Closing the
 * link closes the queue and then the fd, which removes a device created here.
 */
import { DEFAULT_STRIDE, type PacketArena, type PacketBatch } from "../../router/batch.ts";
import { ETH_VLAN_HEADER_LEN } from "../../router/wire/ethernet.ts";
import { HypervisorError } from "../errors.ts";
import {
  DropCounts,
  type Link,
  type LinkLayer,
  type LinkStats,
  type ReceiveHandler,
} from "../link.ts";
import {
  closeFd,
  type DeviceKind,
  openTun,
  PacketQueue,
  type PacketQueueOptions,
  type QueueMode,
  setLinkUp,
  setMtu,
  setTxQueueLen,
} from "../native.ts";

/** The tx queue length given to devices unless told otherwise (Linux's default is 500 for tun). */

/**
 * One read() and one write() per packet, drained in batches per wake-up:
 * measured by `npm run bench:forward` on this project's machines (system
 * calls cost ~0.1 µs), it forwards 12% more than io_uring with 64 reads in
 * flight and adds 14x less latency (every packet wakes all armed reads).
 */
export const DEFAULT_QUEUE_MODE: QueueMode = "rw";

export const DEFAULT_TX_QUEUE_LEN = 10000;

export interface DeviceLinkOptions {
  /** Where the link's receive batch lives. */
  arena: PacketArena;
  /** The link's name in the hypervisor; default the device's name. */
  name?: string;
  /** Device to create or attach to; "" (the default) lets the kernel choose. */
  device?: string;
  /** IP MTU to set on the device; default: leave the kernel's (1500). */
  mtu?: number;
  /** Device tx queue length; default 10000, so bursts towards the kernel are not dropped. */
  txQueueLen?: number;
  /** Bring the device up (default true). */
  up?: boolean;
  /** Native queue settings; the slot size is the stride. */
  /** Native queue options; the mode defaults to DEFAULT_QUEUE_MODE. */
  queue?: Omit<PacketQueueOptions, "slotSize">;
  /** Slots of the receive batch; default 64. */
  batchSize?: number;
  stride?: number;
  /** Batches handed on per wake-up before yielding to other links; default 8. */
  budget?: number;
  clock?: () => number;
  /** Let the process exit while the link is open (default false). */
  unref?: boolean;
}

export class DeviceLink implements Link {
  readonly name: string;
  readonly layer: LinkLayer;
  readonly kind: DeviceKind;
  /** The kernel's name for the device. */
  readonly device: string;
  readonly fd: number;
  readonly queue: PacketQueue;
  readonly #rx: PacketBatch;
  readonly #arena: PacketArena;
  readonly #budget: number;
  readonly #clock: () => number;
  #handler: ReceiveHandler | null = null;
  #closed = false;
  readonly #drops = new DropCounts();

  /** `configure` runs on the new device before it goes up (a TAP's MAC address). */
  protected constructor(
    kind: DeviceKind,
    options: DeviceLinkOptions,
    configure?: (device: string) => void,
  ) {
    this.kind = kind;
    this.layer = kind === "tun" ? "l3" : "l2";
    const stride = options.stride ?? DEFAULT_STRIDE;
    const overhead = kind === "tap" ? ETH_VLAN_HEADER_LEN : 0;
    if (options.mtu !== undefined && (options.mtu < 68 || options.mtu + overhead > stride)) {
      throw new HypervisorError(
        "BadArgument",
        `${kind} ${options.device || "(new)"}: MTU ${options.mtu} must be 68..${stride - overhead} ` +
          `(a ${stride}-byte slot${overhead > 0 ? ` less a ${overhead}-byte tagged Ethernet header` : ""})`,
      );
    }
    this.#budget = options.budget ?? 8;
    this.#clock = options.clock ?? (() => performance.now());
    const dev = openTun(options.device ?? "", kind);
    this.fd = dev.fd;
    this.device = dev.name;
    this.name = options.name ?? dev.name;
    let queue: PacketQueue | undefined;
    try {
      setTxQueueLen(dev.name, options.txQueueLen ?? DEFAULT_TX_QUEUE_LEN);
      if (options.mtu !== undefined) setMtu(dev.name, options.mtu);
      configure?.(dev.name);
      if (options.up ?? true) setLinkUp(dev.name, true);
      queue = new PacketQueue(dev.fd, {
        mode: DEFAULT_QUEUE_MODE,
        ...options.queue,
        slotSize: stride,
      });
      this.#rx = options.arena.batch(options.batchSize ?? 64, stride);
      this.#arena = options.arena;
    } catch (e) {
      queue?.close();
      closeFd(dev.fd);
      throw e;
    }
    this.queue = queue;
    if (options.unref) queue.unref();
  }

  get closed(): boolean {
    return this.#closed;
  }

  onReceive(handler: ReceiveHandler | null): void {
    if (this.#closed) return;
    this.#handler = handler;
    this.queue.onReadable(handler === null ? null : this.#drain);
  }

  readonly #drain = (): void => {
    const rx = this.#rx;
    for (let k = 0; k < this.#budget && this.#handler !== null; k++) {
      rx.headroom = 0;
      const n = this.queue.receive(rx.view, rx.lengths, rx.stride, rx.capacity);
      if (n === 0) return;
      rx.count = n;
      this.#handler(rx, this.#clock());
      if (n < rx.capacity) return;
    }
  };

  send(batch: PacketBatch): number {
    if (this.#closed) {
      let n = 0;
      for (let i = 0; i < batch.count; i++) if (batch.lengths[i] !== 0) n++;
      this.#drops.add("closed", n);
      return 0;
    }
    return this.queue.send(batch.packets(), batch.lengths, batch.stride, batch.count);
  }

  stats(): LinkStats {
    const s = this.queue.stats();
    return {
      rxPackets: s.rxPackets,
      rxBytes: s.rxBytes,
      txPackets: s.txPackets,
      txBytes: s.txBytes,
      drops: this.#drops.snapshot({
        "tx-full": s.txDropped,
        "rx-error": s.rxErrors,
        "tx-error": s.txErrors,
      }),
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = null;
    this.queue.close();
    closeFd(this.fd);
    this.#arena.release(this.#rx);
  }
}
