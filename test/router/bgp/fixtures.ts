/** Shared fixtures of the BGP tests: an UPDATE context, hex, fast-check arbitraries. */
import fc from "fast-check";
import type { Prefix } from "../../../fib/prefix.ts";
import {
  asPathFromSegments,
  type PathAttributes,
  SegmentType,
} from "../../../router/bgp/wire/attributes.ts";
import type { UpdateContext } from "../../../router/bgp/wire/update.ts";

export const CTX: UpdateContext = {
  as4: true,
  ebgp: true,
  peerAs: 65002,
  enforceFirstAs: true,
  ipv4: true,
  ipv6: true,
  mpErrorDisables: false,
};

export const u8 = fc.integer({ min: 0, max: 255 });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const prefix4: fc.Arbitrary<Prefix> = fc
  .tuple(u32, fc.integer({ min: 0, max: 32 }))
  .map(([a, l]) => ({
    family: 4,
    words: Uint32Array.of(l === 0 ? 0 : (a & (0xffffffff << (32 - l))) >>> 0),
    length: l,
  }));
export const prefix6: fc.Arbitrary<Prefix> = fc
  .tuple(fc.array(u32, { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 128 }))
  .map(([w, l]) => {
    const words = Uint32Array.from(w, (v, i) => {
      const bits = l - 32 * i;
      return bits <= 0 ? 0 : bits >= 32 ? v : (v & (0xffffffff << (32 - bits))) >>> 0;
    });
    return { family: 6, words, length: l };
  });

const segment = fc.record({
  type: fc.constantFrom(SegmentType.AsSequence, SegmentType.AsSet),
  asns: fc.array(fc.integer({ min: 1, max: 0xffffffff }), { minLength: 1, maxLength: 8 }),
});

/** Attribute sets as received from an eBGP peer (path starting with its AS, no LOCAL_PREF). */
export const attributes = (family: 4 | 6): fc.Arbitrary<PathAttributes> =>
  fc
    .record({
      origin: fc.integer({ min: 0, max: 2 }),
      segments: fc.array(segment, { maxLength: 4 }),
      nh: fc.array(fc.integer({ min: 0xc6120000, max: 0xc613ffff }), {
        minLength: 4,
        maxLength: 4,
      }),
      med: fc.option(u32, { nil: undefined }),
      atomicAggregate: fc.boolean(),
      aggregator: fc.option(
        fc.record({ asn: fc.integer({ min: 1, max: 0xffffffff }), address: u32 }),
        { nil: undefined },
      ),
      communities: fc.option(fc.array(u32, { minLength: 1, maxLength: 6 }), { nil: undefined }),
      large: fc.option(
        fc.uniqueArray(fc.tuple(u32, u32, u32), {
          minLength: 1,
          maxLength: 4,
          selector: (t) => t.join(":"),
        }),
        { nil: undefined },
      ),
      ext: fc.option(fc.uint8Array({ minLength: 8, maxLength: 8 }), { nil: undefined }),
      unknown: fc.option(fc.uint8Array({ maxLength: 20 }), { nil: undefined }),
    })
    .map((r) => {
      const a: { -readonly [K in keyof PathAttributes]: PathAttributes[K] } = {
        origin: r.origin,
        asPath: asPathFromSegments([
          { type: SegmentType.AsSequence, asns: [65002] },
          ...r.segments,
        ]),
        atomicAggregate: r.atomicAggregate,
        nextHop:
          family === 4
            ? Uint32Array.of(r.nh[0])
            : Uint32Array.of(0x20010db8, r.nh[1], r.nh[2], r.nh[3]),
      };
      if (r.med !== undefined) a.med = r.med;
      if (r.aggregator) a.aggregator = r.aggregator;
      if (r.communities) a.communities = Uint32Array.from(r.communities);
      if (r.large) a.largeCommunities = Uint32Array.from(r.large.flat());
      if (r.ext) a.extCommunities = r.ext;
      if (r.unknown) a.unknown = [{ flags: 0xe0, type: 99, value: r.unknown }];
      return a;
    });

export function hex(s: string): Uint8Array {
  const c = s.replace(/\s/g, "");
  return Uint8Array.from(c.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
}

export function prefix4Of(a: string, len: number): Prefix {
  const [x, y, z, w] = a.split(".").map(Number);
  return {
    family: 4,
    words: Uint32Array.of(((x << 24) | (y << 16) | (z << 8) | w) >>> 0),
    length: len,
  };
}
