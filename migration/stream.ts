/**
 * The migration stream over one connection: messages in, frames out
 * (`StreamWriter`), and bytes in, messages out (`StreamReader`), on top of
 * the frame codec (frame.ts) and the message codecs (messages.ts). No I/O:
 * the channel (channel.ts) moves the bytes; tests drive both ends directly.
 *
 * What the reader enforces, beyond each frame and payload being well formed:
 * - identity: every frame carries the connection's migration id and epoch
 *   (taken from the first frame, the hello, on the accepting side);
 * - order: sequence numbers run 0, 1, 2, ... per direction; a lower one is a
 *   replay, a higher one a loss or reordering, and either ends the stream;
 * - blobs: the chunks of a blob come in order, back to back, with one kind,
 *   round, seq and length, within `maxBlobBytes`; nothing else may come
 *   between them. Memory follows what arrived, not what a header announced.
 *
 * Any fault ends the stream for good (`next` keeps answering the same
 * error): a migration whose stream went wrong is aborted, never resumed on
 * the same connection.
 */
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  frameBytes,
  MAX_FRAME_SEQ,
  MIGRATION_ID_BYTES,
} from "./frame.ts";
import {
  BLOB_KIND_NAMES,
  type BlobKind,
  CHUNK_HEADER_BYTES,
  type Chunk,
  decodePayload,
  encodeChunk,
  encodeControl,
  MAX_CHUNK_DATA,
  type Message,
  MessageType,
  messageName,
} from "./messages.ts";

/** Default chunk data size: 256 KiB. */
export const DEFAULT_CHUNK_BYTES = 256 * 1024;
/** Default bound on one blob: 1 GiB. */
export const DEFAULT_MAX_BLOB_BYTES = 1 << 30;

export const StreamErrorCode = {
  /** The frame codec refused the bytes (magic, version, flags, length, CRC, truncation). */
  Frame: "Frame",
  /** A frame out of order or replayed. */
  Sequence: "Sequence",
  /** A frame of another migration or epoch. */
  Identity: "Identity",
  /** An unknown message type or a payload that does not decode. */
  Message: "Message",
  /** Chunks that do not make one blob. */
  Blob: "Blob",
} as const;
export type StreamErrorCode = (typeof StreamErrorCode)[keyof typeof StreamErrorCode];

export interface StreamError {
  ok: false;
  code: StreamErrorCode;
  error: string;
}

export type StreamResult = { ok: true; message: Message } | StreamError;

/** Turns messages into frames for one direction of one connection. */
export class StreamWriter {
  readonly migrationId: Uint8Array;
  readonly epoch: number;
  readonly chunkBytes: number;
  private seq = 0;

  constructor(migrationId: Uint8Array, epoch: number, chunkBytes = DEFAULT_CHUNK_BYTES) {
    if (migrationId.length !== MIGRATION_ID_BYTES) {
      throw new RangeError(`a migration id has ${MIGRATION_ID_BYTES} bytes`);
    }
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_DATA) {
      throw new RangeError(`chunk size ${chunkBytes} is not in 1..${MAX_CHUNK_DATA}`);
    }
    this.migrationId = migrationId;
    this.epoch = epoch;
    this.chunkBytes = chunkBytes;
  }

  /** Sequence number the next frame takes. */
  get nextSeq(): number {
    return this.seq;
  }

  /** The frames of one message, in order (one, or one per chunk of a blob). */
  encode(msg: Message): Uint8Array[] {
    if (msg.type !== "blob") {
      const { type, payload } = encodeControl(msg);
      return [this.frame(type, payload)];
    }
    const { kind, round, seq, bytes } = msg;
    const total = bytes.length;
    const frames: Uint8Array[] = [];
    let offset = 0;
    do {
      const data = bytes.subarray(offset, Math.min(total, offset + this.chunkBytes));
      const payload = encodeChunk({ kind, round, seq, total, offset, data });
      frames.push(this.frame(MessageType.CHUNK, payload));
      offset += data.length;
    } while (offset < total);
    return frames;
  }

  private frame(type: number, payload: Uint8Array): Uint8Array {
    if (this.seq > MAX_FRAME_SEQ) {
      throw new RangeError("the stream has used every sequence number: reconnect");
    }
    const frame: Frame = {
      type,
      migrationId: this.migrationId,
      epoch: this.epoch,
      seq: this.seq,
      payload,
    };
    const out = encodeFrame(frame);
    this.seq++;
    return out;
  }
}

/** Bytes a message takes on the wire with chunks of `chunkBytes`. */
export function wireBytes(msg: Message, chunkBytes = DEFAULT_CHUNK_BYTES): number {
  if (msg.type !== "blob") return frameBytes(encodeControl(msg).payload.length);
  const chunks = Math.max(1, Math.ceil(msg.bytes.length / chunkBytes));
  return msg.bytes.length + chunks * frameBytes(CHUNK_HEADER_BYTES);
}

export interface StreamReaderOptions {
  /** The migration id and epoch every frame must carry; default: those of the first frame. */
  expect?: { migrationId: Uint8Array; epoch: number };
  /** Largest blob accepted (default 1 GiB). */
  maxBlobBytes?: number;
}

interface PartialBlob {
  kind: BlobKind;
  round: number;
  seq: number;
  total: number;
  received: number;
  parts: Uint8Array[];
}

/** Turns received bytes into messages for one direction of one connection. */
export class StreamReader {
  private readonly decoder = new FrameDecoder();
  private readonly maxBlobBytes: number;
  private id: Uint8Array | undefined;
  private ep: number | undefined;
  private seq = 0;
  private blob: PartialBlob | undefined;
  private failed: StreamError | undefined;
  /** Bytes pushed so far. */
  bytes = 0;

  constructor(options: StreamReaderOptions = {}) {
    this.maxBlobBytes = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    if (options.expect !== undefined) {
      this.id = options.expect.migrationId;
      this.ep = options.expect.epoch;
    }
  }

  /** The connection's migration id (undefined before the first frame when not given). */
  get migrationId(): Uint8Array | undefined {
    return this.id;
  }

  get epoch(): number | undefined {
    return this.ep;
  }

  get error(): StreamError | undefined {
    return this.failed;
  }

  push(bytes: Uint8Array): void {
    this.bytes += bytes.length;
    this.decoder.push(bytes);
  }

  /** The next complete message, an error, or undefined when more bytes are needed. */
  next(): StreamResult | undefined {
    while (this.failed === undefined) {
      const f = this.decoder.next();
      if (f === undefined) return undefined;
      if (!f.ok) return this.fail("Frame", f.error);
      const out = this.take(f.frame);
      if (out !== undefined) return out;
    }
    return this.failed;
  }

  /** The stream ended: an error if it stopped inside a frame or a blob. */
  end(): StreamError | undefined {
    if (this.failed !== undefined) return this.failed;
    const f = this.decoder.end();
    if (f !== undefined) return this.fail("Frame", f.error);
    if (this.blob !== undefined) {
      const b = this.blob;
      return this.fail(
        "Blob",
        `stream ended inside a ${BLOB_KIND_NAMES[b.kind]} blob: ${b.received} of ${b.total} bytes received`,
      );
    }
    return undefined;
  }

  private take(frame: Frame): StreamResult | undefined {
    if (frame.seq !== this.seq) {
      const what =
        frame.seq < this.seq
          ? `replayed frame: seq ${frame.seq} was already received`
          : `out-of-order frame: seq ${frame.seq} arrived`;
      return this.fail("Sequence", `${what}, expected seq ${this.seq}`);
    }
    if (this.id === undefined) {
      this.id = frame.migrationId;
      this.ep = frame.epoch;
    } else if (!sameBytes(frame.migrationId, this.id)) {
      return this.fail(
        "Identity",
        `frame ${frame.seq} belongs to migration ${hex(frame.migrationId)}, this stream carries ${hex(this.id)}`,
      );
    } else if (frame.epoch !== this.ep) {
      return this.fail(
        "Identity",
        `frame ${frame.seq} carries epoch ${frame.epoch}, this stream carries epoch ${this.ep}`,
      );
    }
    this.seq++;
    const decoded = decodePayload(frame.type, frame.payload);
    if (!decoded.ok) return this.fail("Message", `frame ${frame.seq}: ${decoded.error}`);
    if ("message" in decoded) {
      if (this.blob !== undefined) {
        return this.fail(
          "Blob",
          `${decoded.message.type} message inside a ${BLOB_KIND_NAMES[this.blob.kind]} blob (${this.blob.received} of ${this.blob.total} bytes)`,
        );
      }
      return { ok: true, message: decoded.message };
    }
    return this.chunk(frame.seq, decoded.chunk);
  }

  private chunk(seq: number, c: Chunk): StreamResult | undefined {
    const b = this.blob;
    if (b === undefined) {
      if (c.offset !== 0) {
        return this.fail("Blob", `frame ${seq}: a blob starts at offset ${c.offset}, not 0`);
      }
      if (c.total > this.maxBlobBytes) {
        return this.fail(
          "Blob",
          `frame ${seq}: ${BLOB_KIND_NAMES[c.kind]} blob of ${c.total} bytes exceeds the limit of ${this.maxBlobBytes}`,
        );
      }
      if (c.data.length === c.total) {
        return { ok: true, message: blobMessage(c, c.data) };
      }
      this.blob = {
        kind: c.kind,
        round: c.round,
        seq: c.seq,
        total: c.total,
        received: c.data.length,
        parts: [c.data],
      };
      return undefined;
    }
    if (c.kind !== b.kind || c.round !== b.round || c.seq !== b.seq || c.total !== b.total) {
      return this.fail(
        "Blob",
        `frame ${seq}: a chunk of another blob (${BLOB_KIND_NAMES[c.kind]}, round ${c.round}, seq ${c.seq}, ${c.total} bytes) inside a ${BLOB_KIND_NAMES[b.kind]} blob (round ${b.round}, seq ${b.seq}, ${b.total} bytes)`,
      );
    }
    if (c.offset !== b.received) {
      return this.fail(
        "Blob",
        `frame ${seq}: chunk at offset ${c.offset}, expected offset ${b.received}`,
      );
    }
    if (c.data.length === 0) {
      return this.fail("Blob", `frame ${seq}: empty chunk inside a blob`);
    }
    b.parts.push(c.data);
    b.received += c.data.length;
    if (b.received < b.total) return undefined;
    this.blob = undefined;
    const bytes = new Uint8Array(b.total);
    let at = 0;
    for (const p of b.parts) {
      bytes.set(p, at);
      at += p.length;
    }
    return { ok: true, message: blobMessage(b, bytes) };
  }

  private fail(code: StreamErrorCode, error: string): StreamError {
    this.failed = { ok: false, code, error: `stream: ${error}` };
    this.blob = undefined;
    return this.failed;
  }
}

function blobMessage(
  b: { kind: BlobKind; round: number; seq: number },
  bytes: Uint8Array,
): Message {
  return { type: "blob", kind: b.kind, round: b.round, seq: b.seq, bytes };
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Hex text of bytes (migration ids). */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Bytes of a 32-digit hex migration id, or undefined. */
export function migrationIdFromHex(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f]{32}$/i.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, "hex"));
}

/** The message name of a frame type, for logs. */
export { messageName };
