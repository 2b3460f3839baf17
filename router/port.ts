/**
 * What a hypervisor sees of a virtual router: its interfaces, a way to hand
 * it received packets, and a way to take the packets it sends. A router never
 * touches a socket or a device (DESIGN.md, logical layer); the hypervisor's
 * binding table decides which substrate link an interface's packets use.
 *
 * Time is passed in (milliseconds, any monotonic origin): routers keep
 * timers (neighbour retries, rate limits) as deadlines and the hypervisor
 * calls `poll` when the earliest one is due.
 */
import type { PacketBatch } from "./batch.ts";

/** L3: raw IP packets (a TUN device). L2: Ethernet frames (a TAP device, a VXLAN segment). */
export type InterfaceLayer = "l2" | "l3";

export interface PortInterface {
  /** Index of the interface within its router (0..n-1). */
  readonly index: number;
  readonly name: string;
  readonly layer: InterfaceLayer;
  /** IP MTU: the largest IP packet the interface sends. */
  readonly mtu: number;
}

/** Called with the packets a router sends on one interface; the batch is reused after the call. */
export type TransmitFn = (ifIndex: number, batch: PacketBatch) => void;

export interface RouterPort {
  readonly name: string;
  interfaces(): readonly PortInterface[];
  /** Processes every packet of `batch`, received on interface `ifIndex`. */
  receive(ifIndex: number, batch: PacketBatch, now: number): void;
  /** Where the router's output goes. */
  setTransmit(transmit: TransmitFn): void;
  /** Runs timers due at `now`; returns the next deadline (Infinity when none). */
  poll(now: number): number;
  /**
   * How the router asks to be polled soon, when work arrives outside
   * `receive` and `poll` (an API call that makes its control plane send).
   */
  setWake?(wake: () => void): void;
  /** Gives back what the router holds in the hypervisor's arena; it is not used afterwards. */
  close?(): void;
}
