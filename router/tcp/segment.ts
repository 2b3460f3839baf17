/**
 * One received segment as the state machine reads it (RFC 9293 3.10.7's
 * SEG.SEQ, SEG.ACK, SEG.LEN, SEG.WND and control bits), filled in place by
 * the stack from a checked header: one instance per stack, reused for every
 * segment, so the receive path allocates nothing. The data stays in the
 * caller's buffer (`buf[dataOff .. dataOff + dataLen)`).
 */
import {
  TcpFlag,
  TcpOptionValues,
  tcpAck,
  tcpFlags,
  tcpHeaderLen,
  tcpSeq,
  tcpWindow,
} from "../wire/tcp.ts";

export class Segment {
  buf: Uint8Array = new Uint8Array(0);
  /** Where the TCP header starts, and the segment's length (header and data). */
  off = 0;
  len = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  /** The window field as received (not scaled). */
  wnd = 0;
  dataOff = 0;
  dataLen = 0;
  readonly options = new TcpOptionValues();

  /** Reads the fields of the checked segment `(buf, off, len)`; options were read by checkTcp. */
  load(buf: Uint8Array, off: number, len: number): void {
    const hl = tcpHeaderLen(buf, off);
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.seq = tcpSeq(buf, off);
    this.ack = tcpAck(buf, off);
    this.flags = tcpFlags(buf, off);
    this.wnd = tcpWindow(buf, off);
    this.dataOff = off + hl;
    this.dataLen = len - hl;
  }

  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }

  /** SEG.LEN: data octets plus one for SYN and one for FIN. */
  get seqLen(): number {
    return this.dataLen + (this.flags & TcpFlag.Syn ? 1 : 0) + (this.flags & TcpFlag.Fin ? 1 : 0);
  }
}
