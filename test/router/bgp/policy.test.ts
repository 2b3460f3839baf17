/** Policies: every match and action, the signature memo, and configuration errors. */
import { describe, expect, it } from "vitest";
import { parseBgpConfig } from "../../../router/bgp/config.ts";
import { compilePolicies } from "../../../router/bgp/policy.ts";
import {
  asPathFromSegments,
  asPathText,
  Community,
  type PathAttributes,
} from "../../../router/bgp/wire/attributes.ts";
import { parseRouterConfig } from "../../../router/config.ts";
import { addr } from "./harness.ts";

function policies(input: object) {
  const cfg = parseBgpConfig({ asn: 65001, routerId: "198.18.0.1", ...input });
  if (!cfg.ok) throw new Error(cfg.errors.join("\n"));
  return compilePolicies(cfg.config);
}

const base: PathAttributes = {
  origin: 0,
  asPath: asPathFromSegments([{ type: 2, asns: [65001, 65005, 65002] }]),
  atomicAggregate: false,
  nextHop: Uint32Array.of(0xc6120002),
  communities: Uint32Array.of((65000 << 16) | 100, Community.NoExport),
  largeCommunities: Uint32Array.of(65000, 1, 2),
};

function judge(p: ReturnType<typeof compilePolicies>, name: string, prefix: string, attrs = base) {
  const [a, l] = prefix.split("/");
  const w = addr(a);
  const family = w.length === 1 ? 4 : 6;
  const pol = p.get(name)!;
  return pol.apply(family, pol.signature(family, w, 0, Number(l)), attrs, 65001);
}

describe("policy matches", () => {
  const p = policies({
    prefixLists: {
      lab: [{ prefix: "198.18.0.0/15", ge: 24, le: 28 }],
      exact: [{ prefix: "198.19.0.0/16" }, { prefix: "2001:db8::/32", le: 48 }],
    },
    policies: {
      pl: { terms: [{ match: { prefixList: "lab" } }, { match: { prefixList: "exact" } }] },
      re: { terms: [{ match: { asPath: "^65001_" }, action: "accept" }] },
      tail: { terms: [{ match: { asPath: "_65002$" } }] },
      origin: { terms: [{ match: { originAs: [65002] } }] },
      len: { terms: [{ match: { pathLength: { min: 2, max: 3 } } }] },
      comm: { terms: [{ match: { community: ["65000:*"] } }] },
      noexp: { terms: [{ match: { community: ["no-export"] } }] },
      large: { terms: [{ match: { largeCommunity: ["65000:*:2"] } }] },
      v6: { terms: [{ match: { family: "ipv6" } }] },
    },
  });
  it("prefix lists with ge/le and exact entries", () => {
    expect(judge(p, "pl", "198.18.4.0/24").accept).toBe(true);
    expect(judge(p, "pl", "198.18.4.16/28").accept).toBe(true);
    expect(judge(p, "pl", "198.18.4.0/29").accept).toBe(false);
    expect(judge(p, "pl", "198.18.0.0/16").accept).toBe(false);
    expect(judge(p, "pl", "198.19.0.0/16").accept).toBe(true);
    expect(judge(p, "pl", "198.19.0.0/17").accept).toBe(false);
    expect(judge(p, "pl", "2001:db8:1::/48").accept).toBe(true);
    expect(judge(p, "pl", "2001:db8:1::/56").accept).toBe(false);
    expect(judge(p, "pl", "10.0.0.0/8").accept).toBe(false);
  });
  it("AS path expressions with _ as a boundary", () => {
    expect(judge(p, "re", "10.0.0.0/8").accept).toBe(true);
    expect(
      judge(p, "re", "10.0.0.0/8", {
        ...base,
        asPath: asPathFromSegments([{ type: 2, asns: [650011] }]),
      }).accept,
    ).toBe(false);
    expect(judge(p, "tail", "10.0.0.0/8").accept).toBe(true);
    expect(
      judge(p, "tail", "10.0.0.0/8", {
        ...base,
        asPath: asPathFromSegments([{ type: 2, asns: [65002, 1] }]),
      }).accept,
    ).toBe(false);
  });
  it("origin AS, path length, communities, large communities, family", () => {
    expect(judge(p, "origin", "10.0.0.0/8").accept).toBe(true);
    expect(judge(p, "len", "10.0.0.0/8").accept).toBe(true);
    expect(
      judge(p, "len", "10.0.0.0/8", {
        ...base,
        asPath: asPathFromSegments([{ type: 2, asns: [1, 2, 3, 4] }]),
      }).accept,
    ).toBe(false);
    expect(judge(p, "comm", "10.0.0.0/8").accept).toBe(true);
    expect(judge(p, "comm", "10.0.0.0/8", { ...base, communities: undefined }).accept).toBe(false);
    expect(judge(p, "noexp", "10.0.0.0/8").accept).toBe(true);
    expect(judge(p, "large", "10.0.0.0/8").accept).toBe(true);
    expect(
      judge(p, "large", "10.0.0.0/8", { ...base, largeCommunities: Uint32Array.of(65000, 1, 3) })
        .accept,
    ).toBe(false);
    expect(judge(p, "v6", "10.0.0.0/8").accept).toBe(false);
    expect(judge(p, "v6", "2001:db8::/32").accept).toBe(true);
  });
  it("the signature carries exactly the prefix lists' answers", () => {
    const pol = p.get("pl")!;
    expect(pol.prefixDependent).toBe(true);
    expect(pol.signature(4, addr("198.18.4.0"), 0, 24)).toBe(1);
    expect(pol.signature(4, addr("198.19.0.0"), 0, 16)).toBe(2);
    expect(p.get("re")!.prefixDependent).toBe(false);
  });
});

describe("policy actions", () => {
  const p = policies({
    policies: {
      set: {
        terms: [
          {
            set: {
              localPref: 250,
              med: 7,
              origin: "incomplete",
              communities: { remove: ["65000:*"], add: ["65001:1", "no-advertise"] },
              largeCommunities: { add: ["65001:9:9"], remove: ["65000:1:*"] },
              prepend: { count: 2 },
              nextHopSelf: true,
            },
          },
        ],
      },
      replace: {
        terms: [{ set: { communities: { replace: ["1:1"] }, largeCommunities: { replace: [] } } }],
      },
      chain: {
        terms: [
          { set: { localPref: 10 }, action: "next" },
          { match: { community: ["65000:100"] }, action: "reject" },
        ],
        default: "accept",
      },
      prependOther: { terms: [{ set: { prepend: { asn: 64999, count: 1 } } }] },
    },
  });
  it("sets LOCAL_PREF, MED, ORIGIN, communities, large communities, prepends, next-hop-self", () => {
    const r = judge(p, "set", "10.0.0.0/8");
    expect(r.accept).toBe(true);
    expect(r.nextHopSelf).toBe(true);
    expect(r.medSet).toBe(true);
    expect(r.attrs.localPref).toBe(250);
    expect(r.attrs.med).toBe(7);
    expect(r.attrs.origin).toBe(2);
    expect(Array.from(r.attrs.communities!)).toEqual([
      Community.NoExport,
      ((65001 << 16) | 1) >>> 0,
      Community.NoAdvertise,
    ]);
    expect(Array.from(r.attrs.largeCommunities!)).toEqual([65001, 9, 9]);
    expect(asPathText(r.attrs.asPath)).toBe("65001 65001 65001 65005 65002");
    // The input is untouched.
    expect(base.localPref).toBeUndefined();
  });
  it("replaces communities (an empty list removes them) and prepends another AS", () => {
    const r = judge(p, "replace", "10.0.0.0/8");
    expect(Array.from(r.attrs.communities!)).toEqual([(1 << 16) | 1]);
    expect(r.attrs.largeCommunities).toBeUndefined();
    expect(asPathText(judge(p, "prependOther", "10.0.0.0/8").attrs.asPath)).toBe(
      "64999 65001 65005 65002",
    );
  });
  it("goes on with `next`, ends with accept/reject, falls to the default", () => {
    expect(judge(p, "chain", "10.0.0.0/8").accept).toBe(false);
    const r = judge(p, "chain", "10.0.0.0/8", { ...base, communities: undefined });
    expect(r.accept).toBe(true);
    expect(r.attrs.localPref).toBe(10);
  });
});

describe("BGP configuration", () => {
  it("names the field at fault", () => {
    const r = parseBgpConfig({
      asn: 65001,
      prefixLists: { l: [{ prefix: "198.18.0.0/15", ge: 8 }, { prefix: "nope" }] },
      policies: {
        p: {
          terms: [
            {
              match: { prefixList: "missing", asPath: "(", community: ["x"] },
              set: { communities: { add: ["1:*"] } },
            },
          ],
        },
        accept: {},
      },
      neighbors: [
        { address: "198.18.0.2", asn: 65002, import: "nope", nextHop6: "198.18.0.1" },
        { address: "198.18.0.2", asn: 65002 },
        { address: "banana", asn: 1 },
      ],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      "bgp.routerId: required when the router has no IPv4 address",
      "bgp.prefixLists.l.0: need 15 <= ge <= le <= 32",
      "bgp.prefixLists.l.1.prefix: 'nope': not an IPv4 or IPv6 address",
      "bgp.policies.p.terms.0.match.prefixList: no prefix list 'missing'",
      expect.stringMatching(/^bgp\.policies\.p\.terms\.0\.match\.asPath: /),
      "bgp.policies.p.terms.0.match.community.0: 'x' is not a community pattern",
      "bgp.policies.p.terms.0.set.communities.add.0: '1:*' is not a community",
      "bgp.policies.accept: 'accept' is a built-in policy",
      "bgp.neighbors.0.import: no policy 'nope'",
      "bgp.neighbors.0.nextHop6: '198.18.0.1' is not an IPv6 address",
      "bgp.neighbors.1.address: duplicate neighbour 198.18.0.2",
      "bgp.neighbors.2.address: 'banana' is not an address",
    ]);
  });
  it("refuses hold times of 1 and 2 seconds and unknown fields", () => {
    const r = parseBgpConfig({ asn: 65001, routerId: "1.2.3.4", holdTime: 2, bogus: 1 });
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.errors.join("\n")).toMatch(/holdTime: hold time is 0 or at least 3 seconds/);
  });
  it("takes the highest interface address as router id by default", () => {
    const r = parseBgpConfig({ asn: 65001 }, [addr("198.18.0.1")[0], addr("198.18.3.1")[0]]);
    expect(r.ok && r.config.routerId).toBe(addr("198.18.3.1")[0]);
  });
  it("is the optional bgp section of a router's configuration", () => {
    const router = {
      name: "r1",
      interfaces: [{ name: "t0", layer: "l3", addresses: ["198.18.0.1/24"] }],
    };
    const plain = parseRouterConfig(router);
    expect(plain.ok && plain.config.bgp).toBe(undefined);
    const r = parseRouterConfig({
      ...router,
      bgp: { asn: 65001, neighbors: [{ address: "198.18.0.2", asn: 65002 }] },
    });
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.config.bgp?.routerId).toBe(addr("198.18.0.1")[0]);
      expect(r.config.bgp?.neighbors[0].families).toEqual([4, 6]);
    }
    const bad = parseRouterConfig({
      ...router,
      bgp: { asn: 0, neighbors: [{ address: "x", asn: 1 }] },
    });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors[0]).toMatch(/^bgp\.asn: /);
    const bad2 = parseRouterConfig({
      ...router,
      bgp: { asn: 1, neighbors: [{ address: "x", asn: 1 }] },
    });
    expect(!bad2.ok && bad2.errors).toEqual(["bgp.neighbors.0.address: 'x' is not an address"]);
  });
});
