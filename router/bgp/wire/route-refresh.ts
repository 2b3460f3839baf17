/**
 * The ROUTE-REFRESH message (RFC 2918): AFI, a reserved octet (the message
 * subtype of RFC 7313, 0 for a plain request) and SAFI. A message whose body
 * is not 4 octets is answered with ROUTE-REFRESH Message Error / Invalid
 * Message Length carrying the whole message (RFC 7313 section 5).
 */
import { read16, write16 } from "../../wire/bytes.ts";
import { type BgpError, bgpError, ErrorCode, RouteRefreshSubcode } from "../errors.ts";
import { HEADER_LEN, MessageType, writeHeader } from "./header.ts";

export interface RouteRefreshRepr {
  afi: number;
  safi: number;
  /** 0: request (RFC 2918); 1, 2: beginning and end of a refresh (RFC 7313). */
  subtype: number;
}

export const ROUTE_REFRESH_LEN = HEADER_LEN + 4;

export function parseRouteRefresh(
  buf: Uint8Array,
  off: number,
  len: number,
): { ok: true; repr: RouteRefreshRepr } | { ok: false; error: BgpError } {
  if (len !== ROUTE_REFRESH_LEN) {
    return {
      ok: false,
      error: bgpError(
        ErrorCode.RouteRefreshMessage,
        RouteRefreshSubcode.InvalidMessageLength,
        buf.slice(off, off + len),
      ),
    };
  }
  return {
    ok: true,
    repr: { afi: read16(buf, off + 19), subtype: buf[off + 21], safi: buf[off + 22] },
  };
}

export function encodeRouteRefresh(repr: RouteRefreshRepr): Uint8Array {
  const out = new Uint8Array(ROUTE_REFRESH_LEN);
  writeHeader(out, 0, MessageType.RouteRefresh, ROUTE_REFRESH_LEN);
  write16(out, 19, repr.afi);
  out[21] = repr.subtype;
  out[22] = repr.safi;
  return out;
}
