/**
 * The BGP section of a router's configuration: the speaker (AS, router
 * identifier, timers, decision options), its neighbours, prefix lists,
 * policies and redistribution of the router's connected and static routes.
 * `bgpSchema` checks the plain data (router/config.ts embeds it as the
 * optional `bgp` field); `normalizeBgpConfig` turns it into typed values
 * and reports every problem with the path of the field at fault.
 *
 * Defaults (RFC 8212 for eBGP):
 * - an eBGP neighbour without an import policy accepts nothing, and without
 *   an export policy advertises nothing; an iBGP neighbour without policy
 *   accepts and advertises everything the rules of RFC 4271 allow;
 * - the built-in policy names "accept" and "reject" do what they say;
 * - a policy's terms are tried in order; the first term whose match holds
 *   applies its `set` actions, then `accept` or `reject` ends the policy
 *   while `next` goes on with the next term; past the last term the
 *   policy's `default` (reject unless given) decides;
 * - hold time 90 s, keepalive a third of the negotiated hold time,
 *   ConnectRetry 120 s, idle hold before an automatic restart 5 s
 *   (doubled after each consecutive failure, up to 120 s), LOCAL_PREF 100,
 *   MED compared only between routes from the same neighbouring AS;
 * - both address families are offered to every neighbour; the leftmost AS
 *   of eBGP paths must be the neighbour's (RFC 4271 section 6.3).
 */
import { z } from "zod";
import { type Prefix, parseIPv4, parsePrefix } from "../../fib/prefix.ts";
import type { Family } from "../../fib/types.ts";
import { Community } from "./wire/attributes.ts";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Prefix lists one policy may use (policy.ts keeps one signature bit for each). */
const MAX_PREFIX_LISTS = 20;
const asn = z.number().int().min(1).max(0xffffffff);
const u32 = z.number().int().min(0).max(0xffffffff);

const holdTime = z
  .number()
  .int()
  .min(0)
  .max(65535)
  .refine((v) => v === 0 || v >= 3, "hold time is 0 or at least 3 seconds");

const communityOps = z.strictObject({
  add: z.array(z.string()).optional(),
  remove: z.array(z.string()).optional(),
  replace: z.array(z.string()).optional(),
});

const matchSchema = z.strictObject({
  family: z.enum(["ipv4", "ipv6"]).optional(),
  prefixList: z.string().optional(),
  asPath: z.string().optional(),
  originAs: z.array(asn).optional(),
  pathLength: z
    .strictObject({
      min: z.number().int().min(0).optional(),
      max: z.number().int().min(0).optional(),
    })
    .optional(),
  community: z.array(z.string()).optional(),
  largeCommunity: z.array(z.string()).optional(),
});

const setSchema = z.strictObject({
  localPref: u32.optional(),
  med: u32.optional(),
  origin: z.enum(["igp", "egp", "incomplete"]).optional(),
  communities: communityOps.optional(),
  largeCommunities: communityOps.optional(),
  prepend: z
    .strictObject({ asn: asn.optional(), count: z.number().int().min(1).max(32) })
    .optional(),
  nextHopSelf: z.boolean().optional(),
});

const termSchema = z.strictObject({
  match: matchSchema.default({}),
  set: setSchema.default({}),
  action: z.enum(["accept", "reject", "next"]).default("accept"),
});

const policySchema = z.strictObject({
  terms: z.array(termSchema).default([]),
  default: z.enum(["accept", "reject"]).default("reject"),
});

const prefixListEntrySchema = z.strictObject({
  prefix: z.string(),
  ge: z.number().int().min(0).max(128).optional(),
  le: z.number().int().min(0).max(128).optional(),
});

const neighborSchema = z.strictObject({
  address: z.string(),
  asn,
  description: z.string().max(200).optional(),
  enabled: z.boolean().default(true),
  passive: z.boolean().default(false),
  port: z.number().int().min(1).max(65535).default(179),
  localAddress: z.string().optional(),
  holdTime: holdTime.optional(),
  keepaliveTime: z.number().int().min(1).max(21845).optional(),
  connectRetryTime: z.number().int().min(1).max(65535).optional(),
  families: z
    .array(z.enum(["ipv4", "ipv6"]))
    .min(1)
    .default(["ipv4", "ipv6"]),
  import: z.string().optional(),
  export: z.string().optional(),
  nextHopSelf: z.boolean().default(false),
  nextHop4: z.string().optional(),
  nextHop6: z.string().optional(),
  maxPrefixes: z.number().int().min(1).optional(),
  enforceFirstAs: z.boolean().default(true),
  mpErrors: z.enum(["reset", "disable"]).default("reset"),
  password: z.string().min(1).max(80).optional(),
});

export const bgpSchema = z.strictObject({
  asn,
  routerId: z.string().optional(),
  holdTime: holdTime.default(90),
  keepaliveTime: z.number().int().min(1).max(21845).optional(),
  connectRetryTime: z.number().int().min(1).max(65535).default(120),
  idleHoldTime: z.number().int().min(0).max(3600).default(5),
  listen: z.boolean().default(true),
  port: z.number().int().min(1).max(65535).default(179),
  alwaysCompareMed: z.boolean().default(false),
  defaultLocalPref: u32.default(100),
  redistribute: z
    .array(
      z.strictObject({ source: z.enum(["connected", "static"]), policy: z.string().optional() }),
    )
    .default([]),
  prefixLists: z.record(z.string(), z.array(prefixListEntrySchema)).default({}),
  policies: z.record(z.string(), policySchema).default({}),
  neighbors: z.array(neighborSchema).default([]),
});

export type BgpConfigInput = z.input<typeof bgpSchema>;
type BgpRaw = z.output<typeof bgpSchema>;

// ---- normalised types ----------------------------------------------------------

export interface PrefixListEntry {
  family: Family;
  words: Uint32Array;
  length: number;
  /** Smallest and largest prefix length matched. */
  min: number;
  max: number;
}

/** A community pattern: value and mask (wildcards clear mask bits). */
export interface CommunityPattern {
  value: number;
  mask: number;
}

/** A large community pattern: three values, each undefined for a wildcard. */
export type LargeCommunityPattern = [number | undefined, number | undefined, number | undefined];

export interface CommunityOps<T> {
  add: T[];
  remove: T[];
  replace?: T[];
}

export interface PolicyTerm {
  match: {
    family?: Family;
    prefixList?: string;
    asPath?: RegExp;
    originAs?: number[];
    pathLength?: { min: number; max: number };
    community?: CommunityPattern[];
    largeCommunity?: LargeCommunityPattern[];
  };
  set: {
    localPref?: number;
    med?: number;
    origin?: number;
    communities?: CommunityOps<CommunityPattern>;
    largeCommunities?: CommunityOps<LargeCommunityPattern>;
    prepend?: { asn?: number; count: number };
    nextHopSelf?: boolean;
  };
  action: "accept" | "reject" | "next";
}

export interface PolicyDefinition {
  name: string;
  terms: PolicyTerm[];
  default: "accept" | "reject";
}

export interface NeighborConfig {
  address: Prefix["words"];
  family: Family;
  /** Text form of the address (the neighbour's name in the API). */
  name: string;
  asn: number;
  description?: string;
  enabled: boolean;
  passive: boolean;
  port: number;
  localAddress?: Uint32Array;
  /** Seconds. */
  holdTime: number;
  keepaliveTime?: number;
  connectRetryTime: number;
  families: Family[];
  /** Policy names; undefined: the default (RFC 8212 for eBGP). */
  import?: string;
  export?: string;
  nextHopSelf: boolean;
  nextHop4?: Uint32Array;
  nextHop6?: Uint32Array;
  maxPrefixes?: number;
  enforceFirstAs: boolean;
  mpErrors: "reset" | "disable";
  password?: string;
}

export interface BgpConfig {
  asn: number;
  routerId: number;
  holdTime: number;
  keepaliveTime?: number;
  connectRetryTime: number;
  idleHoldTime: number;
  listen: boolean;
  port: number;
  alwaysCompareMed: boolean;
  defaultLocalPref: number;
  redistribute: { source: "connected" | "static"; policy?: string }[];
  prefixLists: Map<string, PrefixListEntry[]>;
  policies: Map<string, PolicyDefinition>;
  neighbors: NeighborConfig[];
}

// ---- text forms ---------------------------------------------------------------

/** "65000:100", "no-export", "65000:*" → a pattern; undefined when not a community. */
export function parseCommunityPattern(
  text: string,
  wildcards: boolean,
): CommunityPattern | undefined {
  switch (text) {
    case "no-export":
      return { value: Community.NoExport, mask: 0xffffffff };
    case "no-advertise":
      return { value: Community.NoAdvertise, mask: 0xffffffff };
    case "no-export-subconfed":
      return { value: Community.NoExportSubconfed, mask: 0xffffffff };
  }
  const m = /^(\d+|\*):(\d+|\*)$/.exec(text);
  if (!m) return undefined;
  const part = (s: string) => (s === "*" ? undefined : Number(s));
  const hi = part(m[1]);
  const lo = part(m[2]);
  if ((hi === undefined || lo === undefined) && !wildcards) return undefined;
  if ((hi !== undefined && hi > 0xffff) || (lo !== undefined && lo > 0xffff)) return undefined;
  return {
    value: (((hi ?? 0) << 16) | (lo ?? 0)) >>> 0,
    mask: ((hi === undefined ? 0 : 0xffff0000) | (lo === undefined ? 0 : 0xffff)) >>> 0,
  };
}

/** "65000:1:2" with optional "*" parts → a pattern; undefined when not a large community. */
export function parseLargeCommunityPattern(
  text: string,
  wildcards: boolean,
): LargeCommunityPattern | undefined {
  const m = /^(\d+|\*):(\d+|\*):(\d+|\*)$/.exec(text);
  if (!m) return undefined;
  const out: LargeCommunityPattern = [undefined, undefined, undefined];
  for (let i = 0; i < 3; i++) {
    const s = m[i + 1];
    if (s === "*") {
      if (!wildcards) return undefined;
      continue;
    }
    const v = Number(s);
    if (v > 0xffffffff) return undefined;
    out[i] = v;
  }
  return out;
}

/**
 * An AS-path expression (regular expression over the path as text, as in
 * "65001 65002 {65003,65004}") to a RegExp. `_` stands for a boundary
 * (start, end, space, brace, comma, parenthesis), as routers conventionally
 * write it: "^65001_", "_65002$".
 */
export function compileAsPathRegex(text: string): RegExp | string {
  const source = text.replace(/_/g, "(?:^|$|[ {},()])");
  try {
    return new RegExp(source);
  } catch (e) {
    return (e as Error).message;
  }
}

function parseAddress(text: string): { family: Family; words: Uint32Array } | undefined {
  if (text.includes("/")) return undefined;
  const p = parsePrefix(text);
  if (!p.ok) return undefined;
  return { family: p.prefix.family, words: p.prefix.words };
}

// ---- normalisation -------------------------------------------------------------

const ORIGINS = { igp: 0, egp: 1, incomplete: 2 } as const;
export const BUILTIN_POLICIES = ["accept", "reject"];

/**
 * Normalises a checked `bgp` section. `ipv4Addresses` are the router's
 * interface addresses (the router identifier defaults to the highest).
 * Errors are "bgp.<path>: <message>".
 */
export function normalizeBgpConfig(
  raw: BgpRaw,
  ipv4Addresses: number[],
  at = "bgp",
): { ok: true; config: BgpConfig } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  let routerId = 0;
  if (raw.routerId !== undefined) {
    const id = parseIPv4(raw.routerId);
    if (id === undefined || id === 0)
      errors.push(`${at}.routerId: '${raw.routerId}' is not a non-zero IPv4 address`);
    else routerId = id;
  } else if (ipv4Addresses.length > 0) {
    routerId = Math.max(...ipv4Addresses);
  } else {
    errors.push(`${at}.routerId: required when the router has no IPv4 address`);
  }
  if (
    raw.keepaliveTime !== undefined &&
    raw.holdTime !== 0 &&
    raw.keepaliveTime * 3 > raw.holdTime
  ) {
    errors.push(`${at}.keepaliveTime: more than a third of the hold time`);
  }

  const prefixLists = new Map<string, PrefixListEntry[]>();
  for (const [name, entries] of Object.entries(raw.prefixLists)) {
    const where = `${at}.prefixLists.${name}`;
    if (!NAME.test(name)) errors.push(`${where}: names are 1-64 letters, digits, '_', '.', '-'`);
    const list: PrefixListEntry[] = [];
    entries.forEach((e, i) => {
      const p = parsePrefix(e.prefix);
      if (!p.ok || !e.prefix.includes("/")) {
        errors.push(`${where}.${i}.prefix: ${p.ok ? `'${e.prefix}' needs a length` : p.error}`);
        return;
      }
      const maxLen = p.prefix.family === 4 ? 32 : 128;
      const len = p.prefix.length;
      let min = len;
      let max = len;
      if (e.ge !== undefined) {
        min = e.ge;
        max = maxLen;
      }
      if (e.le !== undefined) max = e.le;
      if (min < len || max > maxLen || min > max) {
        errors.push(`${where}.${i}: need ${len} <= ge <= le <= ${maxLen}`);
        return;
      }
      list.push({ family: p.prefix.family, words: p.prefix.words, length: len, min, max });
    });
    prefixLists.set(name, list);
  }

  const communityList = (texts: string[] | undefined, where: string, wildcards: boolean) => {
    if (texts === undefined) return undefined;
    const out: CommunityPattern[] = [];
    texts.forEach((t, i) => {
      const c = parseCommunityPattern(t, wildcards);
      if (!c) errors.push(`${where}.${i}: '${t}' is not a community${wildcards ? " pattern" : ""}`);
      else out.push(c);
    });
    return out;
  };
  const largeList = (texts: string[] | undefined, where: string, wildcards: boolean) => {
    if (texts === undefined) return undefined;
    const out: LargeCommunityPattern[] = [];
    texts.forEach((t, i) => {
      const c = parseLargeCommunityPattern(t, wildcards);
      if (!c)
        errors.push(`${where}.${i}: '${t}' is not a large community${wildcards ? " pattern" : ""}`);
      else out.push(c);
    });
    return out;
  };

  const policies = new Map<string, PolicyDefinition>();
  for (const [name, p] of Object.entries(raw.policies)) {
    const where = `${at}.policies.${name}`;
    if (!NAME.test(name)) errors.push(`${where}: names are 1-64 letters, digits, '_', '.', '-'`);
    if (BUILTIN_POLICIES.includes(name)) errors.push(`${where}: '${name}' is a built-in policy`);
    const terms: PolicyTerm[] = p.terms.map((t, i) => {
      const tw = `${where}.terms.${i}`;
      const m = t.match;
      const match: PolicyTerm["match"] = {};
      if (m.family) match.family = m.family === "ipv4" ? 4 : 6;
      if (m.prefixList !== undefined) {
        if (!raw.prefixLists[m.prefixList])
          errors.push(`${tw}.match.prefixList: no prefix list '${m.prefixList}'`);
        match.prefixList = m.prefixList;
      }
      if (m.asPath !== undefined) {
        const re = compileAsPathRegex(m.asPath);
        if (typeof re === "string") errors.push(`${tw}.match.asPath: ${re}`);
        else match.asPath = re;
      }
      if (m.originAs) match.originAs = m.originAs;
      if (m.pathLength) {
        const min = m.pathLength.min ?? 0;
        const max = m.pathLength.max ?? Number.MAX_SAFE_INTEGER;
        if (min > max) errors.push(`${tw}.match.pathLength: min above max`);
        match.pathLength = { min, max };
      }
      const c = communityList(m.community, `${tw}.match.community`, true);
      if (c) match.community = c;
      const lc = largeList(m.largeCommunity, `${tw}.match.largeCommunity`, true);
      if (lc) match.largeCommunity = lc;
      const s = t.set;
      const set: PolicyTerm["set"] = {};
      if (s.localPref !== undefined) set.localPref = s.localPref;
      if (s.med !== undefined) set.med = s.med;
      if (s.origin !== undefined) set.origin = ORIGINS[s.origin];
      if (s.communities) {
        const cw = `${tw}.set.communities`;
        set.communities = {
          add: communityList(s.communities.add, `${cw}.add`, false) ?? [],
          remove: communityList(s.communities.remove, `${cw}.remove`, true) ?? [],
        };
        const r = communityList(s.communities.replace, `${cw}.replace`, false);
        if (r) set.communities.replace = r;
      }
      if (s.largeCommunities) {
        const cw = `${tw}.set.largeCommunities`;
        set.largeCommunities = {
          add: largeList(s.largeCommunities.add, `${cw}.add`, false) ?? [],
          remove: largeList(s.largeCommunities.remove, `${cw}.remove`, true) ?? [],
        };
        const r = largeList(s.largeCommunities.replace, `${cw}.replace`, false);
        if (r) set.largeCommunities.replace = r;
      }
      if (s.prepend) set.prepend = s.prepend;
      if (s.nextHopSelf) set.nextHopSelf = true;
      return { match, set, action: t.action };
    });
    policies.set(name, { name, terms, default: p.default });
  }
  for (const [name, def] of policies) {
    const lists = new Set(def.terms.map((t) => t.match.prefixList).filter((l) => l !== undefined));
    if (lists.size > MAX_PREFIX_LISTS) {
      errors.push(
        `${at}.policies.${name}: uses ${lists.size} prefix lists, at most ${MAX_PREFIX_LISTS}`,
      );
    }
  }
  const policyRef = (name: string | undefined, where: string) => {
    if (name !== undefined && !policies.has(name) && !BUILTIN_POLICIES.includes(name)) {
      errors.push(`${where}: no policy '${name}'`);
    }
  };
  raw.redistribute.forEach((r, i) => {
    policyRef(r.policy, `${at}.redistribute.${i}.policy`);
  });

  const seen = new Set<string>();
  const neighbors: NeighborConfig[] = [];
  raw.neighbors.forEach((n, i) => {
    const where = `${at}.neighbors.${i}`;
    const addr = parseAddress(n.address);
    if (!addr) {
      errors.push(`${where}.address: '${n.address}' is not an address`);
      return;
    }
    const name = n.address;
    const key = addr.words.join(".");
    if (seen.has(key)) errors.push(`${where}.address: duplicate neighbour ${n.address}`);
    seen.add(key);
    policyRef(n.import, `${where}.import`);
    policyRef(n.export, `${where}.export`);
    const nc: NeighborConfig = {
      address: addr.words,
      family: addr.family,
      name,
      asn: n.asn,
      enabled: n.enabled,
      passive: n.passive,
      port: n.port,
      holdTime: n.holdTime ?? raw.holdTime,
      connectRetryTime: n.connectRetryTime ?? raw.connectRetryTime,
      families: [...new Set(n.families)].map((f) => (f === "ipv4" ? 4 : 6)) as Family[],
      nextHopSelf: n.nextHopSelf,
      enforceFirstAs: n.enforceFirstAs,
      mpErrors: n.mpErrors,
    };
    const keepalive = n.keepaliveTime ?? raw.keepaliveTime;
    if (keepalive !== undefined) nc.keepaliveTime = keepalive;
    if (n.description !== undefined) nc.description = n.description;
    if (n.import !== undefined) nc.import = n.import;
    if (n.export !== undefined) nc.export = n.export;
    if (n.maxPrefixes !== undefined) nc.maxPrefixes = n.maxPrefixes;
    if (n.password !== undefined) nc.password = n.password;
    if (n.localAddress !== undefined) {
      const a = parseAddress(n.localAddress);
      if (!a || a.family !== addr.family) {
        errors.push(
          `${where}.localAddress: '${n.localAddress}' is not an address of the neighbour's family`,
        );
      } else nc.localAddress = a.words;
    }
    for (const [field, fam] of [
      ["nextHop4", 4],
      ["nextHop6", 6],
    ] as const) {
      const text = n[field];
      if (text === undefined) continue;
      const a = parseAddress(text);
      if (!a || a.family !== fam)
        errors.push(`${where}.${field}: '${text}' is not an IPv${fam} address`);
      else nc[field] = a.words;
    }
    if (nc.keepaliveTime !== undefined && nc.holdTime !== 0 && nc.keepaliveTime * 3 > nc.holdTime) {
      errors.push(`${where}.keepaliveTime: more than a third of the hold time`);
    }
    neighbors.push(nc);
  });
  if (errors.length > 0) return { ok: false, errors };
  const config: BgpConfig = {
    asn: raw.asn,
    routerId,
    holdTime: raw.holdTime,
    connectRetryTime: raw.connectRetryTime,
    idleHoldTime: raw.idleHoldTime,
    listen: raw.listen,
    port: raw.port,
    alwaysCompareMed: raw.alwaysCompareMed,
    defaultLocalPref: raw.defaultLocalPref,
    redistribute: raw.redistribute,
    prefixLists,
    policies,
    neighbors,
  };
  if (raw.keepaliveTime !== undefined) config.keepaliveTime = raw.keepaliveTime;
  return { ok: true, config };
}

/** Checks and normalises a stand-alone `bgp` section (for tests and tools). */
export function parseBgpConfig(
  input: unknown,
  ipv4Addresses: number[] = [],
): { ok: true; config: BgpConfig } | { ok: false; errors: string[] } {
  const parsed = bgpSchema.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map(
        (i) => `bgp${i.path.length ? "." : ""}${i.path.join(".")}: ${i.message}`,
      ),
    };
  }
  return normalizeBgpConfig(parsed.data, ipv4Addresses);
}
