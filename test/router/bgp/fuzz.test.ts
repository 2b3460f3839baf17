/** Random bytes, bit flips and truncations: parsing never throws, the speaker keeps running, the RIBs stay consistent. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeOpen, parseOpen } from "../../../router/bgp/wire/open.ts";
import { MessageFramer } from "../../../router/bgp/wire/stream.ts";
import {
  encodeUpdate,
  parseUpdate,
  UpdateAction,
  type UpdateContext,
} from "../../../router/bgp/wire/update.ts";
import { expectConsistent } from "./check.ts";
import { attributes, CTX, prefix4, prefix6 } from "./fixtures.ts";
import { addr, MemoryNet, node, RawPeer, run } from "./harness.ts";

function withHeader(body: Uint8Array, type = 2): Uint8Array {
  const b = new Uint8Array(19 + body.length);
  b.fill(0xff, 0, 16);
  b[16] = b.length >> 8;
  b[17] = b.length & 255;
  b[18] = type;
  b.set(body, 19);
  return b;
}

const validUpdate = fc.oneof(
  fc
    .tuple(
      attributes(4),
      fc.array(prefix4, { minLength: 1, maxLength: 10 }),
      fc.array(prefix4, { maxLength: 5 }),
    )
    .map(([a, nlri, withdrawn]) => encodeUpdate({ attributes: a, nlri, withdrawn })),
  fc.tuple(attributes(6), fc.array(prefix6, { minLength: 1, maxLength: 10 })).map(([a, nlri]) => {
    const { nextHop, ...base } = a;
    return encodeUpdate({ attributes: base, mpReach: { family: 6, nextHop: nextHop!, nlri } });
  }),
);

const mutated = fc
  .tuple(
    validUpdate,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 6 }),
    fc.nat(),
  )
  .map(([m, flips, cut]) => {
    const b = m.slice();
    for (const [at, bit] of flips) {
      const i = 19 + (at % (b.length - 19));
      b[i] ^= 1 << bit;
    }
    // Sometimes truncate, keeping the header's length true.
    const len = cut % 3 === 0 ? Math.max(23, b.length - (cut % (b.length - 22))) : b.length;
    const out = b.slice(0, len);
    out[16] = len >> 8;
    out[17] = len & 255;
    return out;
  });

const contexts: UpdateContext[] = [
  CTX,
  { ...CTX, as4: false, enforceFirstAs: false },
  { ...CTX, ebgp: false, mpErrorDisables: true },
];

describe("parsers under fuzz", () => {
  it("parseUpdate never throws on random bodies", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 300 }),
        fc.constantFrom(...contexts),
        (body, ctx) => {
          const b = withHeader(body);
          const p = parseUpdate(b, 0, b.length, ctx);
          expect(Object.values(UpdateAction)).toContain(p.action);
          if (p.action === UpdateAction.SessionReset) expect(p.error?.code).toBe(3);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("parseUpdate never throws on bit flips and truncations of valid UPDATEs", () => {
    fc.assert(
      fc.property(mutated, fc.constantFrom(...contexts), (b, ctx) => {
        const p = parseUpdate(b, 0, b.length, ctx);
        expect(Object.values(UpdateAction)).toContain(p.action);
        // What it found lies inside the message.
        expect(p.nlriEnd).toBeLessThanOrEqual(b.length);
        if (p.mpReach) expect(p.mpReach.end).toBeLessThanOrEqual(b.length);
      }),
      { numRuns: 3000 },
    );
  });

  it("parseOpen and the framer never throw on random input", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 10, maxLength: 100 }),
        fc.uint8Array({ maxLength: 200 }),
        (body, stream) => {
          const b = withHeader(body, 1);
          parseOpen(b, 0, b.length);
          new MessageFramer().push(stream, () => true);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe("a speaker fed fuzzed UPDATEs", () => {
  it("keeps running, answers with NOTIFICATIONs, and its RIBs stay consistent", () => {
    const net = new MemoryNet();
    const peerAddr = addr("198.18.0.2");
    const open = () =>
      encodeOpen({
        version: 4,
        myAs: 65002,
        holdTime: 30,
        bgpId: peerAddr[0],
        capabilities: [
          { kind: "multiprotocol", afi: 1, safi: 1 },
          { kind: "multiprotocol", afi: 2, safi: 1 },
          { kind: "four-octet-as", asn: 65002 },
        ],
      });
    const peer = new RawPeer(net, "peer", peerAddr, open);
    const other = new RawPeer(net, "other", addr("198.18.0.3"), () =>
      encodeOpen({
        version: 4,
        myAs: 65003,
        holdTime: 30,
        bgpId: 0xc6120003,
        capabilities: [{ kind: "four-octet-as", asn: 65003 }],
      }),
    );
    const vr = node(net, "vr", ["198.18.0.1", "2001:db8::1"], {
      asn: 65001,
      idleHoldTime: 0,
      neighbors: [
        { address: "198.18.0.2", asn: 65002, import: "accept", enforceFirstAs: false },
        { address: "198.18.0.3", asn: 65003, import: "accept", export: "accept" },
      ],
    });
    vr.speaker.start(0);
    run(net, [vr], 100);
    let resets = 0;
    fc.assert(
      fc.property(
        fc.array(fc.oneof(validUpdate, mutated), { minLength: 1, maxLength: 8 }),
        (msgs) => {
          run(net, [vr], net.now + 10);
          if (!peer.conn?.open) {
            run(net, [vr], net.now + 100);
          }
          if (!peer.conn?.open) return;
          const before = vr.speaker.neighbors()[0].messagesOut.notification;
          for (const m of msgs) peer.send(m);
          run(net, [vr], net.now + 10);
          if (vr.speaker.neighbors()[0].messagesOut.notification > before) resets++;
          expectConsistent(vr.speaker);
        },
      ),
      { numRuns: 300 },
    );
    expect(resets).toBeGreaterThan(0);
    run(net, [vr], net.now + 1000);
    expectConsistent(vr.speaker);
    expect(vr.speaker.neighbors()[1].state).toBe("Established");
    void other;
  });
});
