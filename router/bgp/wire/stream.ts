/**
 * Message framing over a TCP byte stream (RFC 4271 section 4.1): bytes come
 * in chunks split anywhere; whole messages go out. A message that lies whole
 * inside a chunk is handed over in place (no copy); one split across chunks
 * is gathered in one buffer of the largest message size. Each header is
 * checked (marker, length, type) before its body is awaited, so a stream
 * that lost sync is reported at once: the error is the NOTIFICATION to send,
 * and the framer stops (the connection must close, RFC 4271 section 6.1).
 */
import type { BgpError } from "../errors.ts";
import { checkHeader, HEADER_LEN, MAX_MESSAGE_LEN, messageLength } from "./header.ts";

/** Receives one message `(buf, off, len)`, valid only during the call; false stops the stream. */
export type MessageSink = (buf: Uint8Array, off: number, len: number) => boolean;

export class MessageFramer {
  private readonly partial: Uint8Array;
  private have = 0;
  private failed: BgpError | undefined;
  private stopped = false;

  constructor(private readonly maxLength = MAX_MESSAGE_LEN) {
    this.partial = new Uint8Array(maxLength);
  }

  /** Octets of an incomplete message held back. */
  get pending(): number {
    return this.have;
  }

  /** The header error that stopped the stream, if any. */
  get error(): BgpError | undefined {
    return this.failed;
  }

  /**
   * Feeds a chunk: calls `sink` for each whole message. Answers the header
   * error that stopped the stream, or undefined. After an error, or after
   * the sink returned false, further input is ignored.
   */
  push(chunk: Uint8Array, sink: MessageSink): BgpError | undefined {
    if (this.stopped) return this.failed;
    let at = 0;
    const n = chunk.length;
    // Complete a message started in an earlier chunk.
    if (this.have > 0) {
      if (this.have < HEADER_LEN) {
        const take = Math.min(HEADER_LEN - this.have, n);
        this.partial.set(chunk.subarray(0, take), this.have);
        this.have += take;
        at = take;
        if (this.have < HEADER_LEN) return undefined;
        const err = checkHeader(this.partial, 0, this.maxLength);
        if (err) return this.fail(err);
      }
      const length = messageLength(this.partial, 0);
      const take = Math.min(length - this.have, n - at);
      this.partial.set(chunk.subarray(at, at + take), this.have);
      this.have += take;
      at += take;
      if (this.have < length) return undefined;
      this.have = 0;
      if (!sink(this.partial, 0, length)) {
        this.stopped = true;
        return undefined;
      }
    }
    // Whole messages in place.
    while (n - at >= HEADER_LEN) {
      const err = checkHeader(chunk, at, this.maxLength);
      if (err) return this.fail(err);
      const length = messageLength(chunk, at);
      if (n - at < length) break;
      if (!sink(chunk, at, length)) {
        this.stopped = true;
        return undefined;
      }
      at += length;
    }
    // Keep the tail.
    if (at < n) {
      this.partial.set(chunk.subarray(at, n), 0);
      this.have = n - at;
    }
    return undefined;
  }

  /** Forgets held-back octets and any error (a new connection). */
  reset(): void {
    this.have = 0;
    this.failed = undefined;
    this.stopped = false;
  }

  /** The held-back octets (for export). */
  pendingBytes(): Uint8Array {
    return this.partial.slice(0, this.have);
  }

  /** Restores held-back octets (for import). */
  restore(bytes: Uint8Array): void {
    if (bytes.length > this.maxLength) throw new RangeError("partial message longer than allowed");
    this.partial.set(bytes, 0);
    this.have = bytes.length;
  }

  private fail(err: BgpError): BgpError {
    this.failed = err;
    this.stopped = true;
    this.have = 0;
    return err;
  }
}
