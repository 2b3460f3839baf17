/**
 * The container of a router's migration images: a fixed header, one body,
 * a CRC-32 over everything before it. Both the data-plane image and the
 * control image travel in it; migration/ carries the bytes opaquely.
 *
 *  0  u32 magic "VRMI"
 *  4  u8  format version (1)
 *  5  u8  kind (`ImageKind`)
 *  6  u16 flags (0)
 *  8  u32 seq or version, high 21 bits
 * 12  u32 seq or version, low 32 bits
 * 16  u32 body length B
 * 20  B bytes body
 * 20+B u32 CRC-32 (ISO-HDLC, as zlib) of bytes 0 .. 19+B
 *
 * Big-endian. `openFrame` never throws: a wrong magic, version, kind, flags,
 * length or CRC gives an error naming it.
 */
import { crc32 } from "node:zlib";

export const IMAGE_MAGIC = 0x56524d49;
export const IMAGE_FORMAT = 1;
export const FRAME_OVERHEAD = 24;

export const ImageKind = {
  DataPlaneImage: 1,
  DataPlaneChanges: 2,
  ControlImage: 3,
  ControlChanges: 4,
  FinalState: 5,
} as const;
export type ImageKind = (typeof ImageKind)[keyof typeof ImageKind];

const KIND_NAMES: Record<number, string> = {
  1: "data-plane image",
  2: "data-plane changes",
  3: "control image",
  4: "control changes",
  5: "final state",
};

export function kindName(kind: number): string {
  return KIND_NAMES[kind] ?? `kind ${kind}`;
}

/** Frames `body` as `kind` at `seq` (an integer in 0 .. 2^53 - 1). */
export function sealFrame(kind: ImageKind, seq: number, body: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`bad seq or version ${seq}`);
  const out = new Uint8Array(FRAME_OVERHEAD + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, IMAGE_MAGIC);
  out[4] = IMAGE_FORMAT;
  out[5] = kind;
  view.setUint32(8, Math.floor(seq / 2 ** 32));
  view.setUint32(12, seq >>> 0);
  view.setUint32(16, body.length);
  out.set(body, 20);
  view.setUint32(20 + body.length, crc32(out.subarray(0, 20 + body.length)));
  return out;
}

export type Opened = { ok: true; seq: number; body: Uint8Array } | { ok: false; error: string };

/** Checks a frame of `kind` and returns its seq and body (a view into `bytes`). */
export function openFrame(bytes: Uint8Array, kind: ImageKind): Opened {
  const what = kindName(kind);
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: `${what}: not bytes` };
  if (bytes.length < FRAME_OVERHEAD)
    return { ok: false, error: `${what}: ${bytes.length} bytes, shorter than a frame header` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== IMAGE_MAGIC) return { ok: false, error: `${what}: bad magic` };
  if (bytes[4] !== IMAGE_FORMAT)
    return {
      ok: false,
      error: `${what}: format version ${bytes[4]}, this host reads ${IMAGE_FORMAT}`,
    };
  if (bytes[5] !== kind)
    return { ok: false, error: `${what}: the bytes are a ${kindName(bytes[5])}` };
  if (view.getUint16(6) !== 0) return { ok: false, error: `${what}: unknown flags` };
  const high = view.getUint32(8);
  if (high >= 2 ** 21) return { ok: false, error: `${what}: seq out of range` };
  const seq = high * 2 ** 32 + view.getUint32(12);
  const len = view.getUint32(16);
  if (len !== bytes.length - FRAME_OVERHEAD)
    return {
      ok: false,
      error: `${what}: body of ${len} bytes announced, ${bytes.length - FRAME_OVERHEAD} present (truncated or padded)`,
    };
  if (crc32(bytes.subarray(0, 20 + len)) !== view.getUint32(20 + len))
    return { ok: false, error: `${what}: CRC mismatch (corrupt)` };
  return { ok: true, seq, body: bytes.subarray(20, 20 + len) };
}
