/**
 * Substrate links (DESIGN.md, substrate layer): what the hypervisor moves
 * batches over. A link is a TUN device (L3, raw IP packets), a TAP device or
 * a VXLAN segment (L2, Ethernet frames; RFC 7348), or an in-memory pair for
 * tests. Every kind answers to `Link`:
 *
 * - rx: the link reads from its source (a native queue's `onReadable`, a
 *   socket, a peer) into a `PacketBatch` it owns and calls the one handler
 *   per batch, with the time of the read; the batch is reused once the
 *   handler returns, so the handler finishes with it (or copies) first.
 * - tx: `send(batch)` sends packets 0..count-1 of any batch (from any arena,
 *   with any headroom), skipping holes (length 0), and answers how many it
 *   accepted; it never throws on the data path (a closed link, a full queue
 *   are counted as drops by reason).
 *
 * `LinkRegistry` is the hypervisor's set of links by unique name.
 */
import type { PacketBatch } from "../router/batch.ts";
import type { InterfaceLayer } from "../router/port.ts";
import { HypervisorError } from "./errors.ts";

/** "l2": Ethernet frames (TAP, VXLAN); "l3": IP packets (TUN). */
export type LinkLayer = InterfaceLayer;

/** Called with each received batch and the time (ms) it was read; the batch is reused afterwards. */
export type ReceiveHandler = (batch: PacketBatch, now: number) => void;

export interface LinkStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Packets dropped, by reason (kebab-case names, e.g. "tx-full"); only reasons seen. */
  drops: Record<string, number>;
}

export interface Link {
  readonly name: string;
  readonly layer: LinkLayer;
  /** Sets the one receive handler (replacing any); `null` stops receiving. */
  onReceive(handler: ReceiveHandler | null): void;
  /** Sends the non-empty packets 0..count-1 of `batch`; answers how many were accepted. */
  send(batch: PacketBatch): number;
  stats(): LinkStats;
  /** Stops receiving and releases the link's device or socket share; idempotent. */
  close(): void;
  readonly closed: boolean;
}

/** Packets dropped by reason, as links and the hypervisor count them. */
export class DropCounts {
  readonly counts: Record<string, number> = {};

  add(reason: string, n = 1): void {
    if (n > 0) this.counts[reason] = (this.counts[reason] ?? 0) + n;
  }

  get(reason: string): number {
    return this.counts[reason] ?? 0;
  }

  /** A copy, plus `extra` reasons (zeros left out). */
  snapshot(extra: Record<string, number> = {}): Record<string, number> {
    const out = { ...this.counts };
    for (const [k, v] of Object.entries(extra)) if (v > 0) out[k] = (out[k] ?? 0) + v;
    return out;
  }
}

/** Non-empty packets of a batch and their bytes. */
export function batchTotals(batch: PacketBatch): { packets: number; bytes: number } {
  let packets = 0;
  let bytes = 0;
  const { lengths, count } = batch;
  for (let i = 0; i < count; i++) {
    const len = lengths[i];
    if (len !== 0) {
      packets++;
      bytes += len;
    }
  }
  return { packets, bytes };
}

/** The hypervisor's links by unique name. */
export class LinkRegistry {
  readonly #links = new Map<string, Link>();

  add(link: Link): void {
    if (this.#links.has(link.name)) {
      throw new HypervisorError("DuplicateLink", `link ${link.name} already exists`);
    }
    this.#links.set(link.name, link);
  }

  /** Removes and answers the link (it is not closed). */
  remove(name: string): Link {
    const link = this.require(name);
    this.#links.delete(name);
    return link;
  }

  get(name: string): Link | undefined {
    return this.#links.get(name);
  }

  /** The link called `name`, or throws UnknownLink. */
  require(name: string): Link {
    const link = this.#links.get(name);
    if (link === undefined) {
      const known = [...this.#links.keys()].join(", ") || "none";
      throw new HypervisorError("UnknownLink", `no link ${name} (links: ${known})`);
    }
    return link;
  }

  has(name: string): boolean {
    return this.#links.has(name);
  }

  names(): string[] {
    return [...this.#links.keys()];
  }

  links(): Link[] {
    return [...this.#links.values()];
  }

  get size(): number {
    return this.#links.size;
  }
}
