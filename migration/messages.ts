/**
 * The migration protocol's messages (docs/MIGRATION.md, "Messages"): one
 * type code per message, one payload codec per message, GoBGP style.
 *
 * Two kinds of payload:
 * - control messages: UTF-8 JSON, at most MAX_CONTROL_PAYLOAD bytes, checked
 *   field by field against a strict zod schema (unknown fields are refused:
 *   a peer that sends them speaks another protocol version);
 * - blob chunks (type CHUNK): a fixed binary header and raw bytes. Snapshots,
 *   journals and final states are blobs cut into chunks (`stream.ts`
 *   reassembles them), so no frame exceeds MAX_FRAME_PAYLOAD.
 *
 * Chunk payload (big-endian):
 *    0  u8  blob kind (BlobKind)
 *    1  u8  reserved (0)
 *    2  u16 reserved (0)
 *    4  u32 round (pre-copy round the blob belongs to)
 *    8  u32 seq/version, high 21 bits
 *   12  u32 seq/version, low 32 bits
 *   16  u32 blob length (all chunks together)
 *   20  u32 offset of this chunk in the blob
 *   24  data
 *
 * The migration id and the epoch are in every frame's header, not repeated
 * here. Decoding never throws: it returns the message or an error naming the
 * message type and the field at fault.
 */
import { z } from "zod";
import { ABORT_REASONS, type AbortReason, REFUSAL_CODES, type RefusalCode } from "./errors.ts";
import { MAX_FRAME_PAYLOAD } from "./frame.ts";
import { type RouterRequirements, routerRequirementsSchema } from "./host.ts";

export const MessageType = {
  HELLO: 1,
  HELLO_OK: 2,
  REFUSE: 3,
  PREPARE: 10,
  PREPARED: 11,
  ABORT: 12,
  CHUNK: 20,
  APPLIED: 21,
  VOTE_REQUEST: 30,
  READY: 31,
  COMMIT: 32,
  ACTIVATED: 33,
  ABANDONED: 34,
  LINK_MOVED: 41,
  LINK_MOVED_ACK: 42,
  DONE: 50,
  DONE_ACK: 51,
  RESOLVE: 60,
  RESOLUTION: 61,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const BlobKind = {
  /** Adjacencies and FIB snapshot. */
  DataPlaneSnapshot: 1,
  /** Adjacency changes and FIB journal. */
  DataPlaneChanges: 2,
  ControlSnapshot: 3,
  ControlChanges: 4,
  /** After the freeze: last control changes, timers, queued control packets. */
  Final: 5,
  /** After the commit: control packets that reached the source after the final state. */
  Late: 6,
} as const;
export type BlobKind = (typeof BlobKind)[keyof typeof BlobKind];

const BLOB_KINDS = new Set<number>(Object.values(BlobKind));
export const BLOB_KIND_NAMES: Record<BlobKind, string> = {
  1: "data-plane snapshot",
  2: "data-plane changes",
  3: "control snapshot",
  4: "control changes",
  5: "final state",
  6: "late control packets",
};

/** Why a connection is opened. */
export type HelloPurpose =
  /** Start a new migration (source -> target). */
  | "migrate"
  /** Reattach to a committed migration after the channel was lost (source -> target). */
  | "resume"
  /** Ask how an in-doubt migration ended (target -> source). */
  | "resolve";

export type Message =
  | {
      type: "hello";
      purpose: HelloPurpose;
      /** Sender's hypervisor name. */
      from: string;
      /** The hypervisor the sender means to reach. */
      to: string;
      router: string;
    }
  | { type: "hello-ok" }
  | { type: "refuse"; code: RefusalCode; message: string }
  | { type: "prepare"; router: string; fromEpoch: number; requirements: RouterRequirements }
  | { type: "prepared" }
  | { type: "abort"; reason: AbortReason; message: string }
  | { type: "blob"; kind: BlobKind; round: number; seq: number; bytes: Uint8Array }
  | { type: "applied"; kind: BlobKind; round: number; seq: number }
  | {
      type: "vote-request";
      dataPlaneSeq: number;
      /** The source's clock (ms) when it took the final state: the origin of its deadlines. */
      sourceTime: number;
    }
  | { type: "ready" }
  | { type: "commit" }
  | { type: "activated" }
  | { type: "abandoned"; message: string }
  | { type: "link-moved"; ifIndex: number }
  | { type: "link-moved-ack"; ifIndex: number; error?: string }
  | { type: "done" }
  | { type: "done-ack" }
  | { type: "resolve" }
  | { type: "resolution"; outcome: "commit" | "abort" };

export type MessageName = Message["type"];

/** One chunk of a blob, as carried by a CHUNK frame. */
export interface Chunk {
  kind: BlobKind;
  round: number;
  seq: number;
  total: number;
  offset: number;
  data: Uint8Array;
}

export const CHUNK_HEADER_BYTES = 24;
/** Largest chunk data. */
export const MAX_CHUNK_DATA = MAX_FRAME_PAYLOAD - CHUNK_HEADER_BYTES;
/** Largest control (JSON) payload. */
export const MAX_CONTROL_PAYLOAD = 256 * 1024;

const TWO_32 = 2 ** 32;

// ---- control message schemas --------------------------------------------------------------

const name = z.string().min(1).max(128);
const safeNat = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const u32 = z.number().int().min(0).max(0xffffffff);
const text = z.string().max(4096);
const blobKind = z
  .number()
  .int()
  .refine((k) => BLOB_KINDS.has(k), "an unknown blob kind");

const schemas = {
  [MessageType.HELLO]: z.strictObject({
    purpose: z.enum(["migrate", "resume", "resolve"]),
    from: name,
    to: name,
    router: name,
  }),
  [MessageType.HELLO_OK]: z.strictObject({}),
  [MessageType.REFUSE]: z.strictObject({
    code: z.enum(REFUSAL_CODES as [RefusalCode, ...RefusalCode[]]),
    message: text,
  }),
  [MessageType.PREPARE]: z.strictObject({
    router: name,
    fromEpoch: safeNat,
    requirements: routerRequirementsSchema,
  }),
  [MessageType.PREPARED]: z.strictObject({}),
  [MessageType.ABORT]: z.strictObject({
    reason: z.enum(ABORT_REASONS as [AbortReason, ...AbortReason[]]),
    message: text,
  }),
  [MessageType.APPLIED]: z.strictObject({ kind: blobKind, round: u32, seq: safeNat }),
  [MessageType.VOTE_REQUEST]: z.strictObject({
    dataPlaneSeq: safeNat,
    sourceTime: z.number().finite(),
  }),
  [MessageType.READY]: z.strictObject({}),
  [MessageType.COMMIT]: z.strictObject({}),
  [MessageType.ACTIVATED]: z.strictObject({}),
  [MessageType.ABANDONED]: z.strictObject({ message: text }),
  [MessageType.LINK_MOVED]: z.strictObject({ ifIndex: z.number().int().min(0).max(4095) }),
  [MessageType.LINK_MOVED_ACK]: z.strictObject({
    ifIndex: z.number().int().min(0).max(4095),
    error: text.optional(),
  }),
  [MessageType.DONE]: z.strictObject({}),
  [MessageType.DONE_ACK]: z.strictObject({}),
  [MessageType.RESOLVE]: z.strictObject({}),
  [MessageType.RESOLUTION]: z.strictObject({ outcome: z.enum(["commit", "abort"]) }),
} as const;

const TYPE_OF: Record<Exclude<MessageName, "blob">, MessageType> = {
  hello: MessageType.HELLO,
  "hello-ok": MessageType.HELLO_OK,
  refuse: MessageType.REFUSE,
  prepare: MessageType.PREPARE,
  prepared: MessageType.PREPARED,
  abort: MessageType.ABORT,
  applied: MessageType.APPLIED,
  "vote-request": MessageType.VOTE_REQUEST,
  ready: MessageType.READY,
  commit: MessageType.COMMIT,
  activated: MessageType.ACTIVATED,
  abandoned: MessageType.ABANDONED,
  "link-moved": MessageType.LINK_MOVED,
  "link-moved-ack": MessageType.LINK_MOVED_ACK,
  done: MessageType.DONE,
  "done-ack": MessageType.DONE_ACK,
  resolve: MessageType.RESOLVE,
  resolution: MessageType.RESOLUTION,
};

const NAME_OF = new Map<number, Exclude<MessageName, "blob">>(
  Object.entries(TYPE_OF).map(([k, v]) => [v, k as Exclude<MessageName, "blob">]),
);

/** The message name of a type code, or undefined for an unknown code. */
export function messageName(type: number): MessageName | undefined {
  return type === MessageType.CHUNK ? "blob" : NAME_OF.get(type);
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

export type ControlMessage = Exclude<Message, { type: "blob" }>;

/** Encodes a control message (not a blob: see `encodeChunk`) as its type code and payload. */
export function encodeControl(msg: ControlMessage): { type: MessageType; payload: Uint8Array } {
  const { type: kind, ...fields } = msg;
  const type = TYPE_OF[kind];
  const payload = utf8.encode(JSON.stringify(fields));
  if (payload.length > MAX_CONTROL_PAYLOAD) {
    throw new RangeError(
      `${kind} message of ${payload.length} bytes exceeds ${MAX_CONTROL_PAYLOAD}`,
    );
  }
  return { type, payload };
}

export type DecodedPayload =
  | { ok: true; message: ControlMessage }
  | { ok: true; chunk: Chunk }
  | { ok: false; error: string };

/** Decodes one frame's payload by its type code. Never throws. */
export function decodePayload(type: number, payload: Uint8Array): DecodedPayload {
  if (type === MessageType.CHUNK) {
    const chunk = decodeChunk(payload);
    return chunk.ok ? { ok: true, chunk: chunk.chunk } : chunk;
  }
  const kind = NAME_OF.get(type);
  if (kind === undefined) return { ok: false, error: `unknown message type ${type}` };
  if (payload.length > MAX_CONTROL_PAYLOAD) {
    return {
      ok: false,
      error: `${kind}: payload of ${payload.length} bytes exceeds ${MAX_CONTROL_PAYLOAD}`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(utf8Strict.decode(payload));
  } catch (e) {
    return { ok: false, error: `${kind}: payload is not UTF-8 JSON: ${(e as Error).message}` };
  }
  const schema = schemas[type as keyof typeof schemas];
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue.path.length > 0 ? issue.path.join(".") : "(message)";
    return { ok: false, error: `${kind}: ${at}: ${issue.message}` };
  }
  return { ok: true, message: { type: kind, ...parsed.data } as ControlMessage };
}

// ---- chunks ---------------------------------------------------------------------------------

/** Encodes one chunk. Throws RangeError on a bad field. */
export function encodeChunk(c: Chunk): Uint8Array {
  if (!BLOB_KINDS.has(c.kind)) throw new RangeError(`unknown blob kind ${c.kind}`);
  if (!Number.isInteger(c.round) || c.round < 0 || c.round > 0xffffffff) {
    throw new RangeError(`round ${c.round} is not a u32`);
  }
  if (!Number.isSafeInteger(c.seq) || c.seq < 0) throw new RangeError(`seq ${c.seq} out of range`);
  if (c.data.length > MAX_CHUNK_DATA) throw new RangeError("chunk too large");
  if (!Number.isInteger(c.total) || c.total < 0 || c.total > 0xffffffff) {
    throw new RangeError(`blob length ${c.total} is not a u32`);
  }
  if (c.offset + c.data.length > c.total) throw new RangeError("chunk past the blob's end");
  const out = new Uint8Array(CHUNK_HEADER_BYTES + c.data.length);
  const view = new DataView(out.buffer);
  out[0] = c.kind;
  view.setUint32(4, c.round);
  view.setUint32(8, Math.floor(c.seq / TWO_32));
  view.setUint32(12, c.seq % TWO_32);
  view.setUint32(16, c.total);
  view.setUint32(20, c.offset);
  out.set(c.data, CHUNK_HEADER_BYTES);
  return out;
}

/** Decodes a chunk payload. Never throws. */
export function decodeChunk(
  payload: Uint8Array,
): { ok: true; chunk: Chunk } | { ok: false; error: string } {
  if (payload.length < CHUNK_HEADER_BYTES) {
    return {
      ok: false,
      error: `chunk: ${payload.length} bytes, the header alone takes ${CHUNK_HEADER_BYTES}`,
    };
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const kind = payload[0];
  if (!BLOB_KINDS.has(kind)) return { ok: false, error: `chunk: unknown blob kind ${kind}` };
  if (payload[1] !== 0 || view.getUint16(2) !== 0) {
    return { ok: false, error: "chunk: reserved bytes 1-3 are not zero" };
  }
  const high = view.getUint32(8);
  if (high >= 1 << 21) return { ok: false, error: "chunk: seq does not fit in 53 bits" };
  const total = view.getUint32(16);
  const offset = view.getUint32(20);
  const data = payload.subarray(CHUNK_HEADER_BYTES);
  if (offset > total || data.length > total - offset) {
    return {
      ok: false,
      error: `chunk: ${data.length} bytes at offset ${offset} run past the blob's ${total} bytes`,
    };
  }
  return {
    ok: true,
    chunk: {
      kind: kind as BlobKind,
      round: view.getUint32(4),
      seq: high * TWO_32 + view.getUint32(12),
      total,
      offset,
      data,
    },
  };
}
