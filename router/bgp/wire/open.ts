/**
 * The OPEN message (RFC 4271 section 4.2): version, My Autonomous System,
 * Hold Time, BGP Identifier and optional parameters. The only optional
 * parameter defined is Capabilities (type 2, RFC 5492); any other is
 * answered with Unsupported Optional Parameter (RFC 4271 section 6.2). The
 * extended optional parameters length of RFC 9072 (a non-extended length
 * of 255 followed by parameter type 255) is understood on input; output
 * uses it only when the parameters need more than 255 octets.
 *
 * `parseOpen` checks the syntax; the checks that need the configuration
 * (peer AS, hold time, identifier) are the session's (see session.ts).
 */
import { read16, read32, write16, write32 } from "../../wire/bytes.ts";
import { type BgpError, bgpError, ErrorCode, OpenSubcode } from "../errors.ts";
import {
  type Capability,
  capabilitiesLength,
  emitCapabilities,
  parseCapabilities,
} from "./capabilities.ts";
import { HEADER_LEN, MessageType, writeHeader } from "./header.ts";

export const BGP_VERSION = 4;
/** The 2-octet AS a 4-octet-only speaker puts in My Autonomous System (RFC 6793). */
export const AS_TRANS = 23456;

const PARAM_CAPABILITIES = 2;
const PARAM_EXTENDED = 255;

export interface OpenRepr {
  version: number;
  /** The 2-octet My Autonomous System field (AS_TRANS when the real AS needs 4 octets). */
  myAs: number;
  holdTime: number;
  /** BGP Identifier as an unsigned 32-bit integer. */
  bgpId: number;
  capabilities: Capability[];
}

type OpenResult = { ok: true; repr: OpenRepr } | { ok: false; error: BgpError };

const malformed = (): OpenResult => ({
  ok: false,
  error: bgpError(ErrorCode.OpenMessage, OpenSubcode.Unspecific),
});

/** Parses the OPEN `(buf, off, len)` (header included; checkHeader passed). */
export function parseOpen(buf: Uint8Array, off: number, len: number): OpenResult {
  const end = off + len;
  const b = off + HEADER_LEN;
  const version = buf[b];
  if (version !== BGP_VERSION) {
    return {
      ok: false,
      error: bgpError(
        ErrorCode.OpenMessage,
        OpenSubcode.UnsupportedVersionNumber,
        Uint8Array.of(0, BGP_VERSION),
      ),
    };
  }
  const myAs = read16(buf, b + 1);
  const holdTime = read16(buf, b + 3);
  const bgpId = read32(buf, b + 5);
  let optLen = buf[b + 9];
  let at = b + 10;
  let extended = false;
  if (optLen === 255 && at < end && buf[at] === PARAM_EXTENDED) {
    if (at + 3 > end) return malformed();
    extended = true;
    optLen = read16(buf, at + 1);
    at += 3;
  }
  if (at + optLen !== end) return malformed();
  const capabilities: Capability[] = [];
  while (at < end) {
    const head = extended ? 3 : 2;
    if (end - at < head) return malformed();
    const type = buf[at];
    const plen = extended ? read16(buf, at + 1) : buf[at + 1];
    const v = at + head;
    if (v + plen > end) return malformed();
    if (type !== PARAM_CAPABILITIES) {
      return {
        ok: false,
        error: bgpError(ErrorCode.OpenMessage, OpenSubcode.UnsupportedOptionalParameter),
      };
    }
    const caps = parseCapabilities(buf, v, v + plen);
    if (!caps.ok) return malformed();
    capabilities.push(...caps.caps);
    at = v + plen;
  }
  return { ok: true, repr: { version, myAs, holdTime, bgpId, capabilities } };
}

export function encodeOpen(repr: OpenRepr): Uint8Array {
  const capLen = capabilitiesLength(repr.capabilities);
  // One Capabilities parameter when it fits (RFC 5492 allows one or many).
  const extended = capLen + 2 > 255;
  const optLen = capLen === 0 ? 0 : capLen + (extended ? 3 : 2);
  const length = HEADER_LEN + 10 + (extended ? 3 : 0) + optLen;
  const out = new Uint8Array(length);
  writeHeader(out, 0, MessageType.Open, length);
  const b = HEADER_LEN;
  out[b] = repr.version;
  write16(out, b + 1, repr.myAs);
  write16(out, b + 3, repr.holdTime);
  write32(out, b + 5, repr.bgpId);
  let at = b + 10;
  if (extended) {
    out[b + 9] = 255;
    out[at] = PARAM_EXTENDED;
    write16(out, at + 1, optLen);
    at += 3;
    out[at] = PARAM_CAPABILITIES;
    write16(out, at + 1, capLen);
    at += 3;
  } else {
    out[b + 9] = optLen;
    if (capLen > 0) {
      out[at] = PARAM_CAPABILITIES;
      out[at + 1] = capLen;
      at += 2;
    }
  }
  emitCapabilities(repr.capabilities, out, at);
  return out;
}

/** The speaker's AS from an OPEN: the 4-octet capability's when present (RFC 6793). */
export function openAsn(repr: OpenRepr): number {
  for (const c of repr.capabilities) if (c.kind === "four-octet-as") return c.asn;
  return repr.myAs;
}
