/**
 * Capabilities advertisement (RFC 5492): the OPEN optional parameter of
 * type 2 holds capabilities as code, length, value. Known here:
 * multiprotocol extensions (code 1, RFC 4760), route refresh (code 2,
 * RFC 2918), 4-octet AS numbers (code 65, RFC 6793). Every other
 * capability is kept as code and raw value, so it round-trips unchanged.
 */
import { read16, read32, write16, write32 } from "../../wire/bytes.ts";

export const CapabilityCode = {
  Multiprotocol: 1,
  RouteRefresh: 2,
  ExtendedMessage: 6,
  GracefulRestart: 64,
  FourOctetAs: 65,
  AddPath: 69,
  EnhancedRouteRefresh: 70,
} as const;

export type Capability =
  | { readonly kind: "multiprotocol"; readonly afi: number; readonly safi: number }
  | { readonly kind: "route-refresh" }
  | { readonly kind: "four-octet-as"; readonly asn: number }
  | { readonly kind: "other"; readonly code: number; readonly value: Uint8Array };

/**
 * Parses the capabilities in `(buf, off..end)`. Answers the list, or the
 * offset of the malformed capability (a length overrunning the parameter,
 * or a known capability of the wrong length).
 */
export function parseCapabilities(
  buf: Uint8Array,
  off: number,
  end: number,
): { ok: true; caps: Capability[] } | { ok: false; at: number } {
  const caps: Capability[] = [];
  let at = off;
  while (at < end) {
    if (end - at < 2) return { ok: false, at };
    const code = buf[at];
    const len = buf[at + 1];
    const v = at + 2;
    if (v + len > end) return { ok: false, at };
    switch (code) {
      case CapabilityCode.Multiprotocol:
        if (len !== 4) return { ok: false, at };
        caps.push({ kind: "multiprotocol", afi: read16(buf, v), safi: buf[v + 3] });
        break;
      case CapabilityCode.RouteRefresh:
        if (len !== 0) return { ok: false, at };
        caps.push({ kind: "route-refresh" });
        break;
      case CapabilityCode.FourOctetAs:
        if (len !== 4) return { ok: false, at };
        caps.push({ kind: "four-octet-as", asn: read32(buf, v) });
        break;
      default:
        caps.push({ kind: "other", code, value: buf.slice(v, v + len) });
    }
    at = v + len;
  }
  return { ok: true, caps };
}

/** Octets `caps` take on the wire. */
export function capabilitiesLength(caps: readonly Capability[]): number {
  let n = 0;
  for (const c of caps) n += 2 + capabilityValueLength(c);
  return n;
}

function capabilityValueLength(c: Capability): number {
  switch (c.kind) {
    case "multiprotocol":
    case "four-octet-as":
      return 4;
    case "route-refresh":
      return 0;
    case "other":
      return c.value.length;
  }
}

/** Writes `caps` at `off`; answers the octets written. */
export function emitCapabilities(
  caps: readonly Capability[],
  buf: Uint8Array,
  off: number,
): number {
  let at = off;
  for (const c of caps) {
    const len = capabilityValueLength(c);
    if (len > 255) throw new RangeError(`capability value of ${len} octets does not fit`);
    buf[at + 1] = len;
    const v = at + 2;
    switch (c.kind) {
      case "multiprotocol":
        buf[at] = CapabilityCode.Multiprotocol;
        write16(buf, v, c.afi);
        buf[v + 2] = 0;
        buf[v + 3] = c.safi;
        break;
      case "route-refresh":
        buf[at] = CapabilityCode.RouteRefresh;
        break;
      case "four-octet-as":
        buf[at] = CapabilityCode.FourOctetAs;
        write32(buf, v, c.asn);
        break;
      case "other":
        buf[at] = c.code;
        buf.set(c.value, v);
        break;
    }
    at = v + len;
  }
  return at - off;
}
