/**
 * IP protocol numbers (IANA "Assigned Internet Protocol Numbers"), shared by
 * the IPv4 Protocol field (RFC 791) and the IPv6 Next Header field
 * (RFC 8200), which draw on the same registry. Values not listed here are
 * carried as plain numbers and round-trip unchanged.
 */
export const IpProtocol = {
  /** IPv6 Hop-by-Hop Options (RFC 8200 section 4.3). */
  HopByHop: 0,
  Icmp: 1,
  Igmp: 2,
  /** IPv4 in IP (RFC 2003). */
  IpIp: 4,
  Tcp: 6,
  Udp: 17,
  /** IPv6 in IP (RFC 4213). */
  Ipv6: 41,
  /** IPv6 Routing header (RFC 8200 section 4.4). */
  Routing: 43,
  /** IPv6 Fragment header (RFC 8200 section 4.5). */
  Fragment: 44,
  Gre: 47,
  /** Encapsulating Security Payload (RFC 4303). */
  Esp: 50,
  /** Authentication Header (RFC 4302). */
  Ah: 51,
  Icmpv6: 58,
  /** IPv6 No Next Header (RFC 8200 section 4.7). */
  NoNextHeader: 59,
  /** IPv6 Destination Options (RFC 8200 section 4.6). */
  DestinationOptions: 60,
  Ospf: 89,
  Sctp: 132,
} as const;
