/**
 * TAP links (L2): a Linux TAP device (Documentation/networking/tuntap.rst,
 * IFF_TAP | IFF_NO_PI) carries Ethernet II frames (IEEE 802.3, no preamble,
 * no FCS, unpadded), one per read or write. The router bound to it resolves
 * neighbours itself (ARP, RFC 826; NDP, RFC 4861); the link moves frames.
 *
 * `mac` sets the kernel side's hardware address (the device's own), which
 * tests use to know what the namespace's frames come from; the router's
 * address is the router's business. Device setup, the queue and the batch
 * loop live in `DeviceLink` (./device.ts).
 */
import { HypervisorError } from "../errors.ts";
import { setMac } from "../native.ts";
import { DeviceLink, type DeviceLinkOptions } from "./device.ts";

export interface TapLinkOptions extends DeviceLinkOptions {
  /** Hardware address of the device (6 bytes); default: the kernel's random one. */
  mac?: Uint8Array;
}

export class TapLink extends DeviceLink {
  constructor(options: TapLinkOptions) {
    const { mac } = options;
    if (mac !== undefined && mac.length !== 6) {
      throw new HypervisorError("BadArgument", `TAP mac must be 6 bytes, not ${mac.length}`);
    }
    super("tap", options, mac === undefined ? undefined : (device) => setMac(device, mac));
  }
}
