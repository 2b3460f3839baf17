import { describe, expect, it } from "vitest";
import {
  checkRequirements,
  type HostOffer,
  type RouterRequirements,
} from "../../migration/host.ts";

const req: RouterRequirements = {
  interfaces: [
    { name: "eth0", layer: "l2", mtu: 1500 },
    { name: "tun0", layer: "l3", mtu: 1400 },
  ],
  capabilities: ["bgp", "ipv6"],
  memoryBytes: 64 << 20,
  routes: { ipv4: 900_000, ipv6: 160_000 },
};

const offer: HostOffer = {
  capabilities: ["bgp", "ipv6", "ospf"],
  layers: ["l2", "l3"],
  freeMemoryBytes: 1 << 30,
  freeRouterSlots: 4,
  maxRoutesPerRouter: 2_000_000,
};

describe("checkRequirements", () => {
  it("accepts a router the host can take", () => {
    expect(checkRequirements(req, offer)).toBeUndefined();
  });

  it("names each shortfall", () => {
    expect(checkRequirements(req, { ...offer, capabilities: ["ospf"] })).toEqual({
      code: "Capability",
      message: "missing capabilities: bgp, ipv6",
    });
    expect(checkRequirements(req, { ...offer, layers: ["l2"] })).toEqual({
      code: "Capability",
      message: "interface tun0 needs an L3 link, which this host does not offer",
    });
    expect(checkRequirements(req, { ...offer, freeRouterSlots: 0 })).toEqual({
      code: "Capacity",
      message: "no room for another router",
    });
    expect(checkRequirements(req, { ...offer, freeMemoryBytes: 1 << 20 })).toEqual({
      code: "Capacity",
      message: "the router needs 67108864 bytes of memory, 1048576 are free",
    });
    expect(checkRequirements(req, { ...offer, maxRoutesPerRouter: 1_000_000 })).toEqual({
      code: "Capacity",
      message: "the router holds 1060000 routes, this host takes at most 1000000 per router",
    });
  });
});
