/**
 * TUN links (L3): a Linux TUN device (Documentation/networking/tuntap.rst,
 * IFF_TUN | IFF_NO_PI) carries raw IPv4 (RFC 791) and IPv6 (RFC 8200)
 * packets, one per read or write, with no link-layer header. The kernel side
 * routes to the device like to any point-to-point link; the router bound to
 * it sees the packets its neighbour (the kernel) sends.
 *
 * Everything but the kind lives in `DeviceLink` (./device.ts): device
 * creation, tx queue length (10000 by default) and MTU from the options, the
 * io_uring queue and the batch loop.
 */
import { DeviceLink, type DeviceLinkOptions } from "./device.ts";

export type TunLinkOptions = DeviceLinkOptions;

export class TunLink extends DeviceLink {
  constructor(options: TunLinkOptions) {
    super("tun", options);
  }
}
