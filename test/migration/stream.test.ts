import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  type Frame,
  FrameDecoder,
  MAX_FRAME_PAYLOAD,
} from "../../migration/frame.ts";
import {
  BlobKind,
  decodePayload,
  encodeChunk,
  type Message,
  MessageType,
} from "../../migration/messages.ts";
import { StreamReader, StreamWriter, wireBytes } from "../../migration/stream.ts";

const ID = new Uint8Array(16).map((_, i) => i * 17);
const OTHER_ID = new Uint8Array(16).fill(9);
const EPOCH = 2 ** 40 + 7;

const REQUIREMENTS = {
  interfaces: [{ name: "eth0", layer: "l2" as const, mtu: 1500, mac: "02:00:00:00:00:01" }],
  capabilities: ["bgp"],
  memoryBytes: 1 << 20,
  routes: { ipv4: 10, ipv6: 2 },
};

/** One of every message, blobs included. */
const EVERY_MESSAGE: Message[] = [
  { type: "hello", purpose: "migrate", from: "pr1", to: "pr2", router: "vr1" },
  { type: "hello-ok" },
  { type: "refuse", code: "Capacity", message: "no room" },
  { type: "prepare", router: "vr1", fromEpoch: 3, requirements: REQUIREMENTS },
  { type: "prepared" },
  { type: "abort", reason: "Timeout", message: "too slow" },
  {
    type: "blob",
    kind: BlobKind.DataPlaneSnapshot,
    round: 0,
    seq: 2 ** 50,
    bytes: new Uint8Array(3000).map((_, i) => i),
  },
  { type: "blob", kind: BlobKind.Final, round: 4, seq: 9, bytes: new Uint8Array(0) },
  { type: "applied", kind: BlobKind.ControlChanges, round: 2, seq: 77 },
  { type: "vote-request", dataPlaneSeq: 123, sourceTime: 81234.567 },
  { type: "ready" },
  { type: "commit" },
  { type: "activated" },
  { type: "abandoned", message: "restarted" },
  { type: "link-moved", ifIndex: 3 },
  { type: "link-moved-ack", ifIndex: 3 },
  { type: "link-moved-ack", ifIndex: 4, error: "no such link" },
  { type: "done" },
  { type: "done-ack" },
  { type: "resolve" },
  { type: "resolution", outcome: "commit" },
];

function frame(overrides: Partial<Frame> = {}): Frame {
  return {
    type: MessageType.COMMIT,
    migrationId: ID,
    epoch: EPOCH,
    seq: 5,
    payload: new Uint8Array([1, 2, 3, 4, 5, 6, 7]),
    ...overrides,
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Reads every message from a reader fed `bytes`, stopping at the first error. */
function readAll(
  reader: StreamReader,
  bytes: Uint8Array,
): { messages: Message[]; error?: string; code?: string } {
  reader.push(bytes);
  const messages: Message[] = [];
  for (;;) {
    const r = reader.next();
    if (r === undefined) return { messages };
    if (!r.ok) return { messages, error: r.error, code: r.code };
    messages.push(r.message);
  }
}

describe("frames", () => {
  it("round-trip any type, id, epoch, seq and payload", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ maxLength: 2000 }),
        (type, migrationId, epoch, seq, payload) => {
          const bytes = encodeFrame({ type, migrationId, epoch, seq, payload });
          const r = decodeFrame(bytes);
          expect(r.ok).toBe(true);
          if (!r.ok) return;
          expect(r.frame).toEqual({ type, migrationId, epoch, seq, payload });
        },
      ),
    );
  });

  it("reassembles a stream split at every offset", () => {
    const frames = [
      frame({ seq: 0 }),
      frame({ seq: 1, payload: new Uint8Array(300).fill(7) }),
      frame({ seq: 2, payload: new Uint8Array(0) }),
    ];
    const stream = concat(frames.map(encodeFrame));
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder(64);
      const got: Frame[] = [];
      for (const part of [stream.subarray(0, cut), stream.subarray(cut)]) {
        d.push(part);
        for (let r = d.next(); r !== undefined; r = d.next()) {
          expect(r.ok).toBe(true);
          if (r.ok) got.push(r.frame);
        }
      }
      expect(got, `cut at ${cut}`).toEqual(frames);
      expect(d.end()).toBeUndefined();
    }
  });

  it("reassembles a stream fed byte by byte and in random pieces", () => {
    const frames = Array.from({ length: 20 }, (_, i) =>
      frame({ seq: i, payload: new Uint8Array(i * 37).fill(i) }),
    );
    const stream = concat(frames.map(encodeFrame));
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 50 }),
        (sizes) => {
          const d = new FrameDecoder(16);
          const got: Frame[] = [];
          let at = 0;
          let i = 0;
          while (at < stream.length) {
            const n = sizes[i++ % sizes.length];
            d.push(stream.subarray(at, at + n));
            at += n;
            for (let r = d.next(); r !== undefined; r = d.next()) if (r.ok) got.push(r.frame);
          }
          expect(got).toEqual(frames);
        },
      ),
    );
  });

  it("refuses every truncation", () => {
    const bytes = encodeFrame(frame());
    for (let n = 0; n < bytes.length; n++) {
      const r = decodeFrame(bytes.subarray(0, n));
      expect(r.ok, `${n} bytes`).toBe(false);
      const d = new FrameDecoder();
      d.push(bytes.subarray(0, n));
      expect(d.next(), `${n} bytes`).toBeUndefined();
      if (n > 0) expect(d.end()?.code).toBe("Truncated");
    }
  });

  it("refuses every single bit flip, never throwing", () => {
    const bytes = encodeFrame(frame({ payload: new Uint8Array(40).map((_, i) => i * 3) }));
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const bad = bytes.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      const d = new FrameDecoder();
      d.push(bad);
      const r = d.next() ?? d.end();
      expect(r, `bit ${bit}`).toBeDefined();
      expect(r!.ok, `bit ${bit}`).toBe(false);
    }
  });

  it("names what is wrong", () => {
    const good = encodeFrame(frame());
    const at = (i: number, v: number) => {
      const b = good.slice();
      b[i] = v;
      const d = new FrameDecoder();
      d.push(b);
      return d.next() ?? d.end();
    };
    expect(at(0, 0x41)).toMatchObject({ code: "BadMagic" });
    expect(at(4, 2)).toMatchObject({ code: "BadVersion" });
    expect(at(7, 1)).toMatchObject({ code: "BadFlags" });
    expect(at(24, 0xff)).toMatchObject({ code: "BadEpoch" });
    expect(at(FRAME_HEADER_BYTES + 1, 0xee)).toMatchObject({ code: "BadCrc" });
  });

  it("refuses an oversized length from the header alone, without waiting for the payload", () => {
    const head = encodeFrame(frame()).slice(0, FRAME_HEADER_BYTES);
    new DataView(head.buffer).setUint32(36, MAX_FRAME_PAYLOAD + 1);
    const d = new FrameDecoder();
    d.push(head);
    expect(d.next()).toMatchObject({ ok: false, code: "TooLong" });
    // And stays failed.
    d.push(encodeFrame(frame()));
    expect(d.next()).toMatchObject({ ok: false, code: "TooLong" });
  });

  it("fails fast on garbage, and never throws on random bytes", () => {
    const d = new FrameDecoder();
    d.push(new TextEncoder().encode("GET / HTTP/1.1\r\n"));
    expect(d.next()).toMatchObject({ ok: false, code: "BadMagic" });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const r = new StreamReader();
        r.push(bytes);
        for (let i = 0; i < 10; i++) {
          const m = r.next();
          if (m === undefined || !m.ok) break;
        }
        r.end();
      }),
    );
  });

  it("refuses frames that cannot be built", () => {
    expect(() => encodeFrame(frame({ type: 256 }))).toThrow(RangeError);
    expect(() => encodeFrame(frame({ migrationId: new Uint8Array(15) }))).toThrow(RangeError);
    expect(() => encodeFrame(frame({ epoch: -1 }))).toThrow(RangeError);
    expect(() => encodeFrame(frame({ seq: 2 ** 32 }))).toThrow(RangeError);
    expect(() => encodeFrame(frame({ payload: new Uint8Array(MAX_FRAME_PAYLOAD + 1) }))).toThrow(
      RangeError,
    );
  });
});

describe("the stream", () => {
  it("round-trips every message through frames, with the wire size it announces", () => {
    for (const chunk of [1, 100, 4096]) {
      const w = new StreamWriter(ID, EPOCH, chunk);
      const frames = EVERY_MESSAGE.map((m) => w.encode(m));
      frames.forEach((f, i) => {
        expect(f.reduce((n, x) => n + x.length, 0)).toBe(wireBytes(EVERY_MESSAGE[i], chunk));
      });
      const r = new StreamReader({ expect: { migrationId: ID, epoch: EPOCH } });
      const got = readAll(r, concat(frames.flat()));
      expect(got.error).toBeUndefined();
      expect(got.messages).toEqual(EVERY_MESSAGE);
      expect(r.end()).toBeUndefined();
    }
  });

  it("takes the identity from the first frame when none is expected", () => {
    const w = new StreamWriter(ID, 12);
    const r = new StreamReader();
    expect(readAll(r, concat(w.encode(EVERY_MESSAGE[0]))).messages).toHaveLength(1);
    expect(r.migrationId).toEqual(ID);
    expect(r.epoch).toBe(12);
  });

  it("delivers messages split at every offset", () => {
    const w = new StreamWriter(ID, EPOCH, 700);
    const stream = concat(EVERY_MESSAGE.flatMap((m) => w.encode(m)));
    for (let cut = 0; cut <= stream.length; cut += 7) {
      const r = new StreamReader();
      const a = readAll(r, stream.subarray(0, cut));
      const b = readAll(r, stream.subarray(cut));
      expect(b.error).toBeUndefined();
      expect([...a.messages, ...b.messages]).toEqual(EVERY_MESSAGE);
    }
  });

  it("refuses a replayed frame", () => {
    const w = new StreamWriter(ID, EPOCH);
    const f0 = w.encode({ type: "commit" })[0];
    const f1 = w.encode({ type: "ready" })[0];
    const got = readAll(new StreamReader(), concat([f0, f1, f1]));
    expect(got.messages.map((m) => m.type)).toEqual(["commit", "ready"]);
    expect(got.code).toBe("Sequence");
    expect(got.error).toMatch(/replayed frame: seq 1 was already received, expected seq 2/);
  });

  it("refuses reordered and missing frames", () => {
    const w = new StreamWriter(ID, EPOCH);
    const f = [0, 1, 2].map(() => w.encode({ type: "done" })[0]);
    let got = readAll(new StreamReader(), concat([f[0], f[2], f[1]]));
    expect(got.code).toBe("Sequence");
    expect(got.error).toMatch(/out-of-order frame: seq 2 arrived, expected seq 1/);
    got = readAll(new StreamReader(), concat([f[1]]));
    expect(got.code).toBe("Sequence");
  });

  it("refuses a frame of another migration or epoch", () => {
    const r = new StreamReader({ expect: { migrationId: ID, epoch: EPOCH } });
    let got = readAll(r, new StreamWriter(OTHER_ID, EPOCH).encode({ type: "commit" })[0]);
    expect(got.code).toBe("Identity");
    got = readAll(
      new StreamReader({ expect: { migrationId: ID, epoch: EPOCH } }),
      new StreamWriter(ID, EPOCH - 1).encode({ type: "commit" })[0],
    );
    expect(got.code).toBe("Identity");
    expect(got.error).toMatch(/epoch/);
  });

  it("stays failed after an error", () => {
    const w = new StreamWriter(ID, EPOCH);
    const r = new StreamReader();
    const bad = w.encode({ type: "commit" })[0].slice();
    bad[10] ^= 1;
    expect(readAll(r, bad).code).toBe("Frame");
    const next = r.next();
    expect(next?.ok).toBe(false);
    expect(r.end()?.ok).toBe(false);
  });

  it("refuses unknown types and payloads that do not decode", () => {
    const raw = (type: number, payload: Uint8Array, seq = 0) =>
      encodeFrame({ type, migrationId: ID, epoch: EPOCH, seq, payload });
    const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const cases: [number, Uint8Array, RegExp][] = [
      [99, json({}), /unknown message type 99/],
      [MessageType.COMMIT, new Uint8Array([0xff, 0xfe]), /not UTF-8 JSON/],
      [MessageType.COMMIT, json({ extra: 1 }), /commit/],
      [MessageType.LINK_MOVED, json({ ifIndex: -1 }), /link-moved: ifIndex/],
      [
        MessageType.PREPARE,
        json({ router: "vr1", fromEpoch: 1, requirements: { ...REQUIREMENTS, memoryBytes: -5 } }),
        /requirements\.memoryBytes/,
      ],
      [MessageType.ABORT, json({ reason: "Because", message: "x" }), /abort: reason/],
      [
        MessageType.REFUSE,
        json({ code: "Capacity", message: "x".repeat(5000) }),
        /refuse: message/,
      ],
      [
        MessageType.HELLO,
        json({ purpose: "steal", from: "a", to: "b", router: "c" }),
        /hello: purpose/,
      ],
    ];
    for (const [type, payload, want] of cases) {
      const got = readAll(new StreamReader(), raw(type, payload));
      expect(got.code, String(want)).toBe("Message");
      expect(got.error).toMatch(want);
    }
  });

  it("reassembles blobs and refuses chunks that do not make one", () => {
    const chunk = (o: {
      kind?: number;
      round?: number;
      seq?: number;
      total: number;
      offset: number;
      data: number;
    }) =>
      encodeChunk({
        kind: (o.kind ?? BlobKind.ControlSnapshot) as BlobKind,
        round: o.round ?? 0,
        seq: o.seq ?? 1,
        total: o.total,
        offset: o.offset,
        data: new Uint8Array(o.data).fill(1),
      });
    const run = (payloads: Uint8Array[], max?: number) => {
      let seq = 0;
      const frames = payloads.map((p) =>
        encodeFrame({
          type: MessageType.CHUNK,
          migrationId: ID,
          epoch: EPOCH,
          seq: seq++,
          payload: p,
        }),
      );
      const r = new StreamReader(max === undefined ? {} : { maxBlobBytes: max });
      const got = readAll(r, concat(frames));
      return got.error === undefined ? { ...got, end: r.end() } : got;
    };
    const ok = run([
      chunk({ total: 10, offset: 0, data: 4 }),
      chunk({ total: 10, offset: 4, data: 6 }),
    ]);
    expect(ok.messages).toHaveLength(1);
    expect(ok.messages[0]).toMatchObject({ type: "blob", kind: BlobKind.ControlSnapshot, seq: 1 });
    expect(run([chunk({ total: 10, offset: 2, data: 4 })]).error).toMatch(/starts at offset 2/);
    expect(
      run([chunk({ total: 10, offset: 0, data: 4 }), chunk({ total: 10, offset: 5, data: 5 })])
        .error,
    ).toMatch(/expected offset 4/);
    expect(
      run([
        chunk({ total: 10, offset: 0, data: 4 }),
        chunk({ total: 10, offset: 4, data: 6, round: 1 }),
      ]).error,
    ).toMatch(/another blob/);
    expect(
      run([
        chunk({ total: 10, offset: 0, data: 4 }),
        chunk({ kind: BlobKind.Final, total: 10, offset: 4, data: 6 }),
      ]).error,
    ).toMatch(/another blob/);
    expect(
      run([chunk({ total: 10, offset: 0, data: 4 }), chunk({ total: 10, offset: 4, data: 0 })])
        .error,
    ).toMatch(/empty chunk/);
    expect(run([chunk({ total: 100, offset: 0, data: 4 })], 50).error).toMatch(
      /exceeds the limit of 50/,
    );
    const mid = run([chunk({ total: 10, offset: 0, data: 4 })]);
    expect(mid.messages).toEqual([]);
    expect((mid as { end?: { error: string } }).end?.error).toMatch(
      /stream ended inside a control snapshot blob: 4 of 10 bytes/,
    );
    // A control message inside a blob.
    const w = new StreamWriter(ID, EPOCH, 4);
    const frames = w.encode({
      type: "blob",
      kind: BlobKind.ControlSnapshot,
      round: 0,
      seq: 1,
      bytes: new Uint8Array(10),
    });
    const commit = encodeFrame({
      type: MessageType.COMMIT,
      migrationId: ID,
      epoch: EPOCH,
      seq: 1,
      payload: new TextEncoder().encode("{}"),
    });
    const got = readAll(new StreamReader(), concat([frames[0], commit]));
    expect(got.error).toMatch(/commit message inside a control snapshot blob/);
  });

  it("refuses chunk payloads that are short, have reserved bits or run past the blob", () => {
    const good = encodeChunk({
      kind: BlobKind.Late,
      round: 0,
      seq: 0,
      total: 4,
      offset: 0,
      data: new Uint8Array(4),
    });
    expect(decodePayload(MessageType.CHUNK, good.subarray(0, 10))).toMatchObject({ ok: false });
    const reserved = good.slice();
    reserved[1] = 1;
    expect(decodePayload(MessageType.CHUNK, reserved)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/reserved/),
    });
    const kind = good.slice();
    kind[0] = 42;
    expect(decodePayload(MessageType.CHUNK, kind)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/unknown blob kind 42/),
    });
    const past = good.slice();
    new DataView(past.buffer).setUint32(20, 3);
    expect(decodePayload(MessageType.CHUNK, past)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/run past/),
    });
  });

  it("refuses a control message too large to send", () => {
    const w = new StreamWriter(ID, EPOCH);
    expect(() => w.encode({ type: "abandoned", message: "x".repeat(300_000) })).toThrow(RangeError);
  });
});
