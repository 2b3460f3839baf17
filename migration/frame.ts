/**
 * The migration stream's frame: the unit the two hypervisors exchange over
 * their channel (docs/MIGRATION.md, "Framing"). Every frame names the
 * migration it belongs to and the epoch the router will have once it
 * commits, and carries a sequence number per direction, so that a frame of
 * another migration, a stale epoch, a replay or a reordering is caught by the
 * stream layer (`stream.ts`) before any message is acted on.
 *
 * Layout (version 1; integers big-endian, offsets in bytes):
 *
 *    0  magic "VMIG"
 *    4  u8  protocol version (1)
 *    5  u8  message type (messages.ts; the frame layer does not interpret it)
 *    6  u16 flags (none defined: must be 0)
 *    8  16 bytes migration id
 *   24  u32 epoch, high 21 bits   (epoch < 2^53)
 *   28  u32 epoch, low 32 bits
 *   32  u32 sequence number (per direction and connection, from 0)
 *   36  u32 payload length L (at most MAX_FRAME_PAYLOAD)
 *   40  payload
 * 40+L  u32 CRC-32 (zlib's) of bytes 0 .. 39+L
 *
 * The channel (TLS 1.3) already authenticates every byte; the CRC catches a
 * sender that builds frames wrong, and lets a frame be checked on its own in
 * tests and captures. Lengths are bounded before anything is buffered: a
 * header announcing more than MAX_FRAME_PAYLOAD is refused as soon as its 40
 * bytes are in, never waited for.
 *
 * `FrameDecoder` reassembles frames from a byte stream split anywhere (TCP
 * segments, TLS records) without I/O, pg-protocol style: `push` bytes, then
 * take frames with `next` until it answers `undefined`. It never throws; the
 * first fault (bad magic, version, flags, length or CRC) is returned as an
 * error value, and the decoder stays failed: a stream that went wrong once is
 * not resynchronised. `end()` says whether the stream stopped inside a frame.
 */
import { crc32 } from "node:zlib";

/** "VMIG" */
export const FRAME_MAGIC = 0x564d4947;
export const PROTOCOL_VERSION = 1;
export const FRAME_HEADER_BYTES = 40;
export const FRAME_TRAILER_BYTES = 4;
/** Largest payload of one frame: 1 MiB. Blobs larger than a chunk travel in several frames. */
export const MAX_FRAME_PAYLOAD = 1 << 20;
export const MIGRATION_ID_BYTES = 16;
/** Largest sequence number; a connection that would pass it must reconnect. */
export const MAX_FRAME_SEQ = 0xffffffff;

const TWO_32 = 2 ** 32;

export interface Frame {
  type: number;
  /** 16 bytes. */
  migrationId: Uint8Array;
  epoch: number;
  seq: number;
  payload: Uint8Array;
}

export const FrameErrorCode = {
  BadMagic: "BadMagic",
  BadVersion: "BadVersion",
  BadFlags: "BadFlags",
  TooLong: "TooLong",
  BadEpoch: "BadEpoch",
  BadCrc: "BadCrc",
  Truncated: "Truncated",
} as const;
export type FrameErrorCode = (typeof FrameErrorCode)[keyof typeof FrameErrorCode];

export interface FrameError {
  ok: false;
  code: FrameErrorCode;
  error: string;
}

export type FrameResult = { ok: true; frame: Frame } | FrameError;

/** Bytes a frame with `payloadBytes` of payload takes on the wire. */
export function frameBytes(payloadBytes: number): number {
  return FRAME_HEADER_BYTES + payloadBytes + FRAME_TRAILER_BYTES;
}

/** Encodes one frame. Throws RangeError on a bad field (a bug of the caller, never of input). */
export function encodeFrame(frame: Frame): Uint8Array {
  const { type, migrationId, epoch, seq, payload } = frame;
  if (!Number.isInteger(type) || type < 0 || type > 0xff) {
    throw new RangeError(`frame type ${type} is not a byte`);
  }
  if (!(migrationId instanceof Uint8Array) || migrationId.length !== MIGRATION_ID_BYTES) {
    throw new RangeError(`a migration id has ${MIGRATION_ID_BYTES} bytes`);
  }
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new RangeError(`epoch ${epoch} is not an integer in 0..2^53-1`);
  }
  if (!Number.isInteger(seq) || seq < 0 || seq > MAX_FRAME_SEQ) {
    throw new RangeError(`sequence number ${seq} is not a u32`);
  }
  if (payload.length > MAX_FRAME_PAYLOAD) {
    throw new RangeError(`payload of ${payload.length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
  }
  const out = new Uint8Array(frameBytes(payload.length));
  const view = new DataView(out.buffer);
  view.setUint32(0, FRAME_MAGIC);
  out[4] = PROTOCOL_VERSION;
  out[5] = type;
  out.set(migrationId, 8);
  view.setUint32(24, Math.floor(epoch / TWO_32));
  view.setUint32(28, epoch % TWO_32);
  view.setUint32(32, seq);
  view.setUint32(36, payload.length);
  out.set(payload, FRAME_HEADER_BYTES);
  const end = FRAME_HEADER_BYTES + payload.length;
  view.setUint32(end, crc32(out.subarray(0, end)));
  return out;
}

/** Checks a header (at least FRAME_HEADER_BYTES at `bytes[at..]`); answers the payload length or an error. */
function checkHeader(bytes: Uint8Array, view: DataView, at: number): number | FrameError {
  const magic = view.getUint32(at);
  if (magic !== FRAME_MAGIC) {
    return fail("BadMagic", `bad magic 0x${hex32(magic)} (want "VMIG")`);
  }
  if (bytes[at + 4] !== PROTOCOL_VERSION) {
    return fail(
      "BadVersion",
      `unsupported protocol version ${bytes[at + 4]} (this build speaks version ${PROTOCOL_VERSION})`,
    );
  }
  const flags = view.getUint16(at + 6);
  if (flags !== 0) return fail("BadFlags", `unknown flags 0x${flags.toString(16)}`);
  if (view.getUint32(at + 24) >= 1 << 21) {
    return fail("BadEpoch", "epoch does not fit in 53 bits");
  }
  const length = view.getUint32(at + 36);
  if (length > MAX_FRAME_PAYLOAD) {
    return fail("TooLong", `payload length ${length} exceeds the limit of ${MAX_FRAME_PAYLOAD}`);
  }
  return length;
}

/** Decodes exactly one frame from `bytes` (nothing before or after it). Never throws. */
export function decodeFrame(bytes: Uint8Array): FrameResult {
  const decoder = new FrameDecoder();
  decoder.push(bytes);
  const first = decoder.next();
  if (first === undefined) {
    const end = decoder.end();
    return end ?? fail("Truncated", "no frame");
  }
  if (!first.ok) return first;
  if (decoder.buffered > 0) {
    return fail("TooLong", `${decoder.buffered} bytes after the frame`);
  }
  return first;
}

/**
 * Reassembles frames from a stream. Bytes are appended to one growable
 * buffer; frames are copied out (their payload stays valid after later
 * pushes), and the consumed part is dropped when the buffer is compacted.
 */
export class FrameDecoder {
  private buf: Uint8Array;
  private view: DataView;
  private start = 0;
  private end_ = 0;
  private failed: FrameError | undefined;
  /** Frames decoded so far. */
  frames = 0;

  constructor(initialCapacity = 64 * 1024) {
    this.buf = new Uint8Array(Math.max(FRAME_HEADER_BYTES * 2, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes received and not yet returned as a frame. */
  get buffered(): number {
    return this.end_ - this.start;
  }

  /** The error the stream failed with, if any. */
  get error(): FrameError | undefined {
    return this.failed;
  }

  /** Appends received bytes. Ignored once the decoder has failed. */
  push(chunk: Uint8Array): void {
    if (this.failed !== undefined || chunk.length === 0) return;
    this.reserve(chunk.length);
    this.buf.set(chunk, this.end_);
    this.end_ += chunk.length;
  }

  /** The next complete frame, an error, or undefined when more bytes are needed. */
  next(): FrameResult | undefined {
    if (this.failed !== undefined) return this.failed;
    const have = this.end_ - this.start;
    if (have < FRAME_HEADER_BYTES) {
      // Check the magic as soon as it is in, so garbage fails fast.
      if (have >= 4 && this.view.getUint32(this.start) !== FRAME_MAGIC) {
        return this.fail(checkHeaderPrefix(this.view, this.start));
      }
      return undefined;
    }
    const length = checkHeader(this.buf, this.view, this.start);
    if (typeof length !== "number") return this.fail(length);
    const total = frameBytes(length);
    if (have < total) return undefined;
    const at = this.start;
    const end = at + FRAME_HEADER_BYTES + length;
    const want = this.view.getUint32(end);
    const got = crc32(this.buf.subarray(at, end));
    if (want !== got) {
      return this.fail(
        fail(
          "BadCrc",
          `CRC mismatch in frame ${this.frames}: trailer says 0x${hex32(want)}, content gives 0x${hex32(got)}`,
        ),
      );
    }
    const frame: Frame = {
      type: this.buf[at + 5],
      migrationId: this.buf.slice(at + 8, at + 24),
      epoch: this.view.getUint32(at + 24) * TWO_32 + this.view.getUint32(at + 28),
      seq: this.view.getUint32(at + 32),
      payload: this.buf.slice(at + FRAME_HEADER_BYTES, end),
    };
    this.start += total;
    if (this.start === this.end_) {
      this.start = 0;
      this.end_ = 0;
    }
    this.frames++;
    return { ok: true, frame };
  }

  /** Called when the stream ends: an error if it stopped inside a frame. */
  end(): FrameError | undefined {
    if (this.failed !== undefined) return this.failed;
    const have = this.end_ - this.start;
    if (have === 0) return undefined;
    let want = "a header";
    if (have >= FRAME_HEADER_BYTES) {
      const length = checkHeader(this.buf, this.view, this.start);
      if (typeof length !== "number") return this.fail(length);
      want = `${frameBytes(length)} bytes`;
    }
    return this.fail(
      fail(
        "Truncated",
        `stream ended inside frame ${this.frames}: ${have} bytes of ${want} received`,
      ),
    );
  }

  private fail(error: FrameError): FrameError {
    this.failed = error;
    // Nothing of a failed stream is kept.
    this.start = 0;
    this.end_ = 0;
    return error;
  }

  private reserve(more: number): void {
    if (this.end_ + more <= this.buf.length) return;
    const live = this.end_ - this.start;
    if (live + more <= this.buf.length) {
      this.buf.copyWithin(0, this.start, this.end_);
    } else {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, live + more));
      grown.set(this.buf.subarray(this.start, this.end_));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.start = 0;
    this.end_ = live;
  }
}

function checkHeaderPrefix(view: DataView, at: number): FrameError {
  return fail("BadMagic", `bad magic 0x${hex32(view.getUint32(at))} (want "VMIG")`);
}

function fail(code: FrameErrorCode, error: string): FrameError {
  return { ok: false, code, error: `frame: ${error}` };
}

function hex32(v: number): string {
  return v.toString(16).padStart(8, "0");
}
