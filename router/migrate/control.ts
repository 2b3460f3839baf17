/**
 * The control image of a router (DESIGN.md, migration step 3): everything
 * the target needs to rebuild the router's control plane, as one value —
 * the configuration as input data (the target rebuilds connected and static
 * routes from it), the interfaces' MACs, neighbour (ARP/ND) tables and
 * counters, the BGP speaker's export (sessions, RIBs; BGP routes of the
 * router's RIB are installed again from it) and the TCP stack's export
 * (connections, listeners), timers as absolute deadlines on the source's
 * clock at `takenAt`. A final state adds the TCP segments kept while frozen.
 *
 * Encoding, in a frame.ts container: u32 JSON length, the JSON text (UTF-8),
 * u32 count of binary parts, per part u8 type and u32 byte length, then the
 * parts back to back. Typed arrays in the value become references to binary
 * parts ({"\u0000b": n}) so that BGP tables travel as raw bytes;
 * non-finite numbers become {"\u0000n": "inf" | "-inf" | "nan"}. Binary
 * parts are little-endian (the format refuses a big-endian host). Decoding
 * never throws; the outer shape is checked by a schema, the BGP and TCP
 * parts by their own importers at activation.
 */
import { z } from "zod";
import type { SpeakerState } from "../bgp/state.ts";
import type { NeighborRecord } from "../neighbors.ts";
import { type ImageKind, openFrame, sealFrame } from "./frame.ts";

export const CONTROL_FORMAT = 1;

export interface InterfaceImage {
  name: string;
  mac: number;
  counters: Record<string, unknown>;
  arp: NeighborRecord[];
  nd: NeighborRecord[];
}

export interface ControlImage {
  format: number;
  name: string;
  /** The source clock when the image was taken: deadlines inside are on that clock. */
  takenAt: number;
  config: unknown;
  interfaces: InterfaceImage[];
  tcp: unknown;
  bgp: SpeakerState | null;
  /** Final state only: TCP segments kept while frozen, whole IP packets. */
  kept?: Uint8Array[];
}

const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, "expected bytes");
const neighbor = z.strictObject({
  address: z.array(z.number().int().min(0).max(0xffffffff)),
  mac: z
    .number()
    .int()
    .min(0)
    .max(2 ** 48 - 1),
  state: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  deadline: z.number(),
  probes: z.number().int().min(0),
  pending: z.array(bytes),
});
const controlSchema = z.strictObject({
  format: z.literal(CONTROL_FORMAT),
  name: z.string(),
  takenAt: z.number().finite(),
  config: z.unknown(),
  interfaces: z.array(
    z.strictObject({
      name: z.string(),
      mac: z
        .number()
        .int()
        .min(0)
        .max(2 ** 48 - 1),
      counters: z.record(z.string(), z.unknown()),
      arp: z.array(neighbor),
      nd: z.array(neighbor),
    }),
  ),
  tcp: z.record(z.string(), z.unknown()),
  bgp: z
    .looseObject({
      version: z.number(),
      exportedAt: z.number(),
      neighbors: z.array(z.unknown()),
      attrs: z.union([z.array(z.unknown()), z.strictObject({ same: z.number() })]),
    })
    .nullable(),
  kept: z.array(bytes).optional(),
});

const TYPES = [
  Uint8Array,
  Uint16Array,
  Uint32Array,
  Int32Array,
  Float64Array,
  Int16Array,
  Int8Array,
  Float32Array,
  Uint8ClampedArray,
] as const;
type Typed = InstanceType<(typeof TYPES)[number]>;
const BIN = "\u0000b";
const NUM = "\u0000n";
const LITTLE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Encodes a control image or final state as `kind` at `version`. */
export function encodeControl(kind: ImageKind, version: number, image: ControlImage): Uint8Array {
  if (!LITTLE) throw new Error("control images are little-endian; this host is not");
  const parts: Typed[] = [];
  const json = JSON.stringify(image, function (this: Record<string, unknown>, key, value) {
    // The holder's own value: a Buffer's toJSON has already run on `value`.
    const raw = this[key];
    if (ArrayBuffer.isView(raw) && !(raw instanceof DataView)) {
      parts.push(raw as Typed);
      return { [BIN]: parts.length - 1 };
    }
    if (typeof value === "number") {
      if (Number.isFinite(value)) return value;
      return { [NUM]: Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf" };
    }
    return value;
  });
  const text = new TextEncoder().encode(json);
  let size = 4 + text.length + 4 + parts.length * 5;
  for (const p of parts) size += p.byteLength;
  const body = new Uint8Array(size);
  const view = new DataView(body.buffer);
  view.setUint32(0, text.length);
  body.set(text, 4);
  let at = 4 + text.length;
  view.setUint32(at, parts.length);
  at += 4;
  for (const p of parts) {
    body[at] = TYPES.findIndex((T) => p instanceof T);
    view.setUint32(at + 1, p.byteLength);
    at += 5;
  }
  for (const p of parts) {
    body.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
    at += p.byteLength;
  }
  return sealFrame(kind, version, body);
}

export type DecodedControl =
  | { ok: true; version: number; image: ControlImage }
  | { ok: false; error: string };

/** Decodes what `encodeControl` made; never throws. */
export function decodeControl(bytes: Uint8Array, kind: ImageKind): DecodedControl {
  const f = openFrame(bytes, kind);
  if (!f.ok) return f;
  if (!LITTLE) return { ok: false, error: "control images are little-endian; this host is not" };
  const body = f.body;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const bad = (why: string): DecodedControl => ({ ok: false, error: `control image: ${why}` });
  if (body.length < 8) return bad("body too short");
  const jsonLen = view.getUint32(0);
  if (4 + jsonLen + 4 > body.length) return bad("JSON length runs past the end");
  let at = 4 + jsonLen;
  const count = view.getUint32(at);
  at += 4;
  if (at + count * 5 > body.length) return bad("binary part table runs past the end");
  const parts: Typed[] = [];
  let data = at + count * 5;
  for (let i = 0; i < count; i++, at += 5) {
    const T = TYPES[body[at]];
    const len = view.getUint32(at + 1);
    if (T === undefined) return bad(`binary part ${i} has unknown type ${body[at]}`);
    if (len % T.BYTES_PER_ELEMENT !== 0 || data + len > body.length)
      return bad(`binary part ${i} has a bad length`);
    const copy = body.slice(data, data + len);
    parts.push(new T(copy.buffer, 0, len / T.BYTES_PER_ELEMENT));
    data += len;
  }
  if (data !== body.length) return bad(`${body.length - data} bytes after the last part`);
  const used = new Uint8Array(count);
  let value: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(body.subarray(4, 4 + jsonLen));
    value = JSON.parse(text, (_key, v) => {
      if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
      const keys = Object.keys(v);
      if (keys.length !== 1) return v;
      if (keys[0] === BIN) {
        const i = v[BIN];
        if (!Number.isInteger(i) || i < 0 || i >= count || used[i])
          throw new Error(`bad binary reference ${String(i)}`);
        used[i] = 1;
        return parts[i];
      }
      if (keys[0] === NUM) {
        if (v[NUM] === "inf") return Number.POSITIVE_INFINITY;
        if (v[NUM] === "-inf") return Number.NEGATIVE_INFINITY;
        if (v[NUM] === "nan") return Number.NaN;
        throw new Error(`bad number ${String(v[NUM])}`);
      }
      return v;
    });
  } catch (e) {
    return bad(`undecodable JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const checked = controlSchema.safeParse(value);
  if (!checked.success) {
    const i = checked.error.issues[0];
    return bad(`${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  return { ok: true, version: f.seq, image: value as ControlImage };
}
