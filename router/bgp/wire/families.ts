/**
 * Address families as BGP names them (RFC 4760): AFI 1 (IPv4) and 2 (IPv6)
 * with SAFI 1 (unicast), the only ones this speaker carries, and the
 * mapping to the router's families 4 and 6.
 */
import type { Family } from "../../../fib/types.ts";

export const Afi = { Ipv4: 1, Ipv6: 2 } as const;
export const Safi = { Unicast: 1 } as const;

/** The router family of an AFI/SAFI this speaker carries, or undefined. */
export function familyOf(afi: number, safi: number): Family | undefined {
  if (safi !== Safi.Unicast) return undefined;
  return afi === Afi.Ipv4 ? 4 : afi === Afi.Ipv6 ? 6 : undefined;
}

export function afiOf(family: Family): number {
  return family === 4 ? Afi.Ipv4 : Afi.Ipv6;
}

export function familyName(family: Family): "ipv4" | "ipv6" {
  return family === 4 ? "ipv4" : "ipv6";
}
