/**
 * Routing policy: compiled from the configuration (config.ts) into
 * objects that judge a route — its prefix and attributes — and answer
 * accept or reject with the attributes to use.
 *
 * Matches: address family, prefix list (entries with ge/le), AS path
 * regular expression over the path text, origin AS, path length,
 * communities and large communities (any of the patterns, with "*"
 * wildcards). Actions: set LOCAL_PREF, MED, ORIGIN, communities and large
 * communities (add, remove by pattern, replace), AS-path prepend,
 * next-hop-self (carried out by the export path, which knows the address).
 *
 * The result depends on the prefix only through the prefix lists, so
 * `signature` folds a prefix into a bit per prefix list, and `apply` takes
 * that signature with the attributes: the speaker memoises `apply` per
 * (attribute set, signature) and runs it once per UPDATE rather than once
 * per prefix.
 */
import type { Family } from "../../fib/types.ts";
import type {
  BgpConfig,
  CommunityOps,
  CommunityPattern,
  LargeCommunityPattern,
  PolicyDefinition,
  PrefixListEntry,
} from "./config.ts";
import {
  asPathLength,
  asPathOrigin,
  asPathPrepend,
  asPathText,
  type PathAttributes,
} from "./wire/attributes.ts";

export interface PolicyResult {
  accept: boolean;
  attrs: PathAttributes;
  /** An action asked for the router's own address as next hop. */
  nextHopSelf: boolean;
  /** A term set the MED (so the export path keeps it on eBGP). */
  medSet: boolean;
}

function prefixMatches(
  e: PrefixListEntry,
  family: Family,
  w: ArrayLike<number>,
  o: number,
  length: number,
): boolean {
  if (e.family !== family || length < e.min || length > e.max) return false;
  let bits = e.length;
  for (let i = 0; bits > 0; i++, bits -= 32) {
    const m = bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    if (((w[o + i] ^ e.words[i]) & m) !== 0) return false;
  }
  return true;
}

function communityMatches(c: number, p: CommunityPattern): boolean {
  return (c & p.mask) >>> 0 === p.value;
}

function largeMatches(lc: Uint32Array, i: number, p: LargeCommunityPattern): boolean {
  return (
    (p[0] === undefined || lc[i] === p[0]) &&
    (p[1] === undefined || lc[i + 1] === p[1]) &&
    (p[2] === undefined || lc[i + 2] === p[2])
  );
}

function applyCommunities(
  cs: Uint32Array | undefined,
  ops: CommunityOps<CommunityPattern>,
): Uint32Array | undefined {
  let list = ops.replace ? ops.replace.map((p) => p.value) : cs ? Array.from(cs) : [];
  if (ops.remove.length > 0)
    list = list.filter((c) => !ops.remove.some((p) => communityMatches(c, p)));
  for (const p of ops.add) if (!list.includes(p.value)) list.push(p.value);
  return list.length > 0 ? Uint32Array.from(list) : undefined;
}

function applyLarge(
  lc: Uint32Array | undefined,
  ops: CommunityOps<LargeCommunityPattern>,
): Uint32Array | undefined {
  let list: number[][] = [];
  if (ops.replace) list = ops.replace.map((p) => [p[0]!, p[1]!, p[2]!]);
  else if (lc) for (let i = 0; i < lc.length; i += 3) list.push([lc[i], lc[i + 1], lc[i + 2]]);
  if (ops.remove.length > 0) {
    list = list.filter((t) => !ops.remove.some((p) => largeMatches(Uint32Array.from(t), 0, p)));
  }
  for (const p of ops.add) {
    if (!list.some((t) => t[0] === p[0] && t[1] === p[1] && t[2] === p[2]))
      list.push([p[0]!, p[1]!, p[2]!]);
  }
  return list.length > 0 ? Uint32Array.from(list.flat()) : undefined;
}

/** Prefix lists one policy may use (the signature has a bit for each). */
export const MAX_PREFIX_LISTS = 20;

export class Policy {
  private readonly lists: PrefixListEntry[][] = [];
  /** Per term: the bit of its prefix list in the signature, or -1. */
  private readonly termBit: number[] = [];
  /** Whether any term looks at the prefix. */
  readonly prefixDependent: boolean;

  constructor(
    readonly definition: PolicyDefinition,
    prefixLists: ReadonlyMap<string, PrefixListEntry[]>,
  ) {
    const index = new Map<string, number>();
    for (const t of definition.terms) {
      const name = t.match.prefixList;
      if (name === undefined) {
        this.termBit.push(-1);
        continue;
      }
      let i = index.get(name);
      if (i === undefined) {
        i = this.lists.length;
        index.set(name, i);
        this.lists.push(prefixLists.get(name) ?? []);
      }
      this.termBit.push(i);
    }
    if (this.lists.length > MAX_PREFIX_LISTS) {
      throw new RangeError(`a policy may use at most ${MAX_PREFIX_LISTS} prefix lists`);
    }
    this.prefixDependent = this.lists.length > 0;
  }

  get name(): string {
    return this.definition.name;
  }

  /** One bit per prefix list the policy uses: set when the prefix matches it. */
  signature(family: Family, w: ArrayLike<number>, o: number, length: number): number {
    let sig = 0;
    for (let i = 0; i < this.lists.length; i++) {
      for (const e of this.lists[i]) {
        if (prefixMatches(e, family, w, o, length)) {
          sig |= 1 << i;
          break;
        }
      }
    }
    return sig;
  }

  /** Runs the policy on a route of `family` whose prefix has signature `sig`. */
  apply(family: Family, sig: number, attrs: PathAttributes, localAs: number): PolicyResult {
    let a = attrs;
    let nextHopSelf = false;
    let medSet = false;
    let text: string | undefined;
    const terms = this.definition.terms;
    for (let i = 0; i < terms.length; i++) {
      const t = terms[i];
      const m = t.match;
      if (m.family !== undefined && m.family !== family) continue;
      const bit = this.termBit[i];
      if (bit >= 0 && !(sig & (1 << bit))) continue;
      if (m.asPath) {
        text ??= asPathText(a.asPath);
        if (!m.asPath.test(text)) continue;
      }
      if (m.originAs) {
        const o = asPathOrigin(a.asPath);
        if (o === undefined || !m.originAs.includes(o)) continue;
      }
      if (m.pathLength) {
        const l = asPathLength(a.asPath);
        if (l < m.pathLength.min || l > m.pathLength.max) continue;
      }
      if (m.community) {
        const cs = a.communities;
        if (!cs || !m.community.some((p) => cs.some((c) => communityMatches(c, p)))) continue;
      }
      if (m.largeCommunity) {
        const lc = a.largeCommunities;
        if (!lc) continue;
        let any = false;
        for (let k = 0; k < lc.length && !any; k += 3)
          any = m.largeCommunity.some((p) => largeMatches(lc, k, p));
        if (!any) continue;
      }
      const s = t.set;
      const changed: { -readonly [K in keyof PathAttributes]?: PathAttributes[K] } = {};
      let any = false;
      if (s.localPref !== undefined) {
        changed.localPref = s.localPref;
        any = true;
      }
      if (s.med !== undefined) {
        changed.med = s.med;
        medSet = true;
        any = true;
      }
      if (s.origin !== undefined) {
        changed.origin = s.origin;
        any = true;
      }
      if (s.communities) {
        changed.communities = applyCommunities(a.communities, s.communities);
        any = true;
      }
      if (s.largeCommunities) {
        changed.largeCommunities = applyLarge(a.largeCommunities, s.largeCommunities);
        any = true;
      }
      if (s.prepend) {
        changed.asPath = asPathPrepend(a.asPath, s.prepend.asn ?? localAs, s.prepend.count);
        text = undefined;
        any = true;
      }
      if (s.nextHopSelf) nextHopSelf = true;
      if (any) a = withChanges(a, changed);
      if (t.action === "accept") return { accept: true, attrs: a, nextHopSelf, medSet };
      if (t.action === "reject") return { accept: false, attrs: a, nextHopSelf, medSet };
    }
    return { accept: this.definition.default === "accept", attrs: a, nextHopSelf, medSet };
  }
}

/** A copy of `a` with `changes` applied; keys set to undefined are removed. */
export function withChanges(
  a: PathAttributes,
  changes: { -readonly [K in keyof PathAttributes]?: PathAttributes[K] },
): PathAttributes {
  const out: Record<string, unknown> = { ...a, ...changes };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as unknown as PathAttributes;
}

export const ACCEPT_ALL = new Policy({ name: "accept", terms: [], default: "accept" }, new Map());
export const REJECT_ALL = new Policy({ name: "reject", terms: [], default: "reject" }, new Map());

/** Every policy of the configuration compiled, with the built-ins. */
export function compilePolicies(
  config: Pick<BgpConfig, "policies" | "prefixLists">,
): Map<string, Policy> {
  const out = new Map<string, Policy>([
    ["accept", ACCEPT_ALL],
    ["reject", REJECT_ALL],
  ]);
  for (const [name, def] of config.policies) out.set(name, new Policy(def, config.prefixLists));
  return out;
}
