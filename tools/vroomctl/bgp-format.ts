/**
 * vroomctl's BGP output in the shapes BIRD's `birdc` prints: `show
 * protocols` (one row per neighbour: Name Proto Table State Since Info,
 * where State is up/start/down and Info the RFC 4271 FSM state), `show
 * protocols all` (the row, then the session's details and one block per
 * channel, i.e. address family), and `show route all` (a table per family,
 * each route with its next hop and path attributes: ORIGIN, AS_PATH,
 * NEXT_HOP, MED, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR, RFC 1997
 * communities and RFC 8092 large communities, written as BIRD writes
 * them). Neighbours have no protocol names here: the Name column is the
 * neighbour's address. Every function is pure: API data in, text out.
 */
import type {
  BgpNeighborsView,
  BgpNeighborView,
  BgpRoutesView,
  BgpRouteView,
} from "../vroomd/bgp-views.ts";

/** "2025-01-02T03:04:05.678Z" as local "2025-01-02 03:04:05" (BIRD's `iso long`). */
export function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m ${s}s`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

/** Info as BIRD gives it: the BGP state, then the last error while the session is not up. */
function info(n: BgpNeighborView): string {
  if (n.state === "Established" || n.lastError === null || !n.enabled) return n.state;
  return `${n.state.padEnd(13)} ${n.lastError.text}`;
}

function header(width: number): string {
  return `${"Name".padEnd(width)} ${"Proto".padEnd(10)} ${"Table".padEnd(10)} ${"State".padEnd(6)} ${"Since".padEnd(19)}  Info`;
}

function row(n: BgpNeighborView, width: number): string {
  return `${n.name.padEnd(width)} ${"BGP".padEnd(10)} ${"---".padEnd(10)} ${n.protocolState.padEnd(6)} ${localTime(n.since).padEnd(19)}  ${info(n)}`.trimEnd();
}

function nameWidth(ns: BgpNeighborView[]): number {
  return Math.max(10, ...ns.map((n) => n.name.length));
}

/** `birdc show protocols`: one row per neighbour. */
export function protocolsText(v: BgpNeighborsView): string {
  if (v.neighbors.length === 0) return `router ${v.router} has no BGP neighbours`;
  const w = nameWidth(v.neighbors);
  return [header(w), ...v.neighbors.map((n) => row(n, w))].join("\n");
}

function filterText(policy: string | null, type: "ebgp" | "ibgp"): string {
  if (policy === null) return type === "ebgp" ? "REJECT (default, RFC 8212)" : "ACCEPT (default)";
  if (policy === "accept" || policy === "reject") return policy.toUpperCase();
  return policy;
}

const MESSAGE_ROWS: [string, string][] = [
  ["open", "OPEN"],
  ["update", "UPDATE"],
  ["notification", "NOTIFICATION"],
  ["keepalive", "KEEPALIVE"],
  ["routeRefresh", "ROUTE-REFRESH"],
];

function neighborDetail(v: BgpNeighborsView, n: BgpNeighborView): string[] {
  const out: string[] = [];
  if (n.description !== undefined) out.push(`  Description:    ${n.description}`);
  if (n.adminMessage !== null) out.push(`  Message:        ${n.adminMessage}`);
  out.push(`  BGP state:          ${n.enabled ? n.state : "Down"}`);
  const kv = (k: string, value: string | number) => out.push(`    ${`${k}:`.padEnd(18)}${value}`);
  kv("Neighbor address", n.address);
  kv("Neighbor AS", n.asn);
  kv("Local AS", v.asn);
  if (n.peerId !== null) kv("Neighbor ID", n.peerId);
  if (n.state === "Established") {
    const caps = [n.type === "ebgp" ? "external" : "internal"];
    if (n.fourOctetAs) caps.push("AS4");
    if (n.routeRefresh) caps.push("route-refresh");
    kv("Session", caps.join(" "));
    kv("Families", n.families.join(" ") || "none");
    if (n.sourceAddress !== null) kv("Source address", n.sourceAddress);
    if (n.holdTime !== null) kv("Hold time", n.holdTime);
    if (n.keepaliveSeconds !== null) kv("Keepalive time", n.keepaliveSeconds);
    if (n.uptimeSeconds !== null) kv("Uptime", duration(n.uptimeSeconds));
  } else {
    const c = n.config;
    const how = [c.passive ? "passive" : "active", `port ${c.port}`];
    if (c.md5) how.push("md5");
    kv("Connect", how.join(", "));
    if (c.localAddress !== null) kv("Source address", c.localAddress);
    kv("Hold time", `${c.holdTime} (configured)`);
    if (n.connections.length > 0) {
      kv(
        "Connections",
        n.connections.map((x) => `${x.state} (${x.outgoing ? "out" : "in"})`).join(", "),
      );
    }
  }
  if (n.lastError !== null) {
    kv("Last error", `${n.lastError.text} (${localTime(n.lastError.at)})`);
  }
  out.push(`    ${"Messages:".padEnd(18)}${"received".padStart(10)}${"sent".padStart(10)}`);
  for (const [key, label] of MESSAGE_ROWS) {
    out.push(
      `      ${label.padEnd(16)}${String(n.messages.in[key] ?? 0).padStart(10)}${String(n.messages.out[key] ?? 0).padStart(10)}`,
    );
  }
  const p = n.prefixes;
  kv(
    "Prefixes",
    `${p.received} received, ${p.rejected} rejected, ${p.withdrawn} withdrawn, ${p.accepted} accepted, ${p.advertised} advertised`,
  );
  if (n.treatAsWithdraw > 0 || n.attributeDiscard > 0) {
    kv(
      "RFC 7606",
      `${n.treatAsWithdraw} treated as withdraw, ${n.attributeDiscard} attributes discarded`,
    );
  }
  kv(
    "Flaps",
    `${n.flaps} (established ${n.establishedCount} time${n.establishedCount === 1 ? "" : "s"})`,
  );
  for (const ch of n.channels) {
    out.push(`  Channel ${ch.family}`);
    const ckv = (k: string, value: string) => out.push(`    ${`${k}:`.padEnd(16)}${value}`);
    ckv("State", ch.state.toUpperCase());
    ckv("Table", ch.family === "ipv4" ? "master4" : "master6");
    ckv("Input filter", filterText(n.config.import, n.type));
    ckv("Output filter", filterText(n.config.export, n.type));
    ckv(
      "Routes",
      `${ch.imported} imported, ${ch.exported} exported, ${ch.preferred} preferred${ch.waiting > 0 ? `, ${ch.waiting} waiting` : ""}`,
    );
    if (ch.state === "up") ckv("End-of-RIB", ch.endOfRibReceived ? "received" : "not received");
  }
  return out;
}

/** `birdc show protocols all`: each neighbour's row, then its details and channels. */
export function protocolsAllText(v: BgpNeighborsView): string {
  if (v.neighbors.length === 0) return `router ${v.router} has no BGP neighbours`;
  const w = nameWidth(v.neighbors);
  const out = [header(w)];
  v.neighbors.forEach((n, i) => {
    if (i > 0) out.push("");
    out.push(row(n, w), ...neighborDetail(v, n));
  });
  return out.join("\n");
}

const WELL_KNOWN: Record<string, string> = {
  "no-export": "(65535,65281)",
  "no-advertise": "(65535,65282)",
  "no-export-subconfed": "(65535,65283)",
};

/** "65001:100" as BIRD writes it: "(65001,100)". */
export function communityBird(c: string): string {
  return WELL_KNOWN[c] ?? `(${c.split(":").join(",")})`;
}

/** "65001:1:2" as BIRD writes it: "(65001, 1, 2)". */
export function largeCommunityBird(c: string): string {
  return `(${c.split(":").join(", ")})`;
}

const ORIGIN_MARK = { igp: "i", egp: "e", incomplete: "?" } as const;
const ORIGIN_NAME = { igp: "IGP", egp: "EGP", incomplete: "Incomplete" } as const;

/** "[AS65002i]": the path's origin AS and ORIGIN, as BIRD sums a route up. */
function pathSummary(r: BgpRouteView): string {
  const asns = r.asPath.match(/\d+/g);
  const last = asns === null ? "" : `AS${asns[asns.length - 1]}`;
  return `[${last}${ORIGIN_MARK[r.origin]}]`;
}

function routeLines(r: BgpRouteView, v: BgpRoutesView, width: number, head: string): string[] {
  const learned = r.kind === "ebgp" || r.kind === "ibgp";
  let src: string;
  if (v.direction === "out") src = `[${v.neighbor}]`;
  else src = `[${r.from ?? ""}]${v.direction === null ? " *" : ""}`;
  const distance = learned && v.direction !== "out" ? ` (${r.kind === "ebgp" ? 20 : 200})` : "";
  const out = [`${head.padEnd(width)} unicast ${src}${distance} ${pathSummary(r)}`];
  if (r.via !== undefined) out.push(`\tvia ${r.via}${r.interface ? ` on ${r.interface}` : ""}`);
  out.push(`\tType: ${learned || v.direction === "out" ? "BGP" : r.kind} univ`);
  out.push(`\tBGP.origin: ${ORIGIN_NAME[r.origin]}`);
  out.push(`\tBGP.as_path: ${r.asPath}`);
  if (r.nextHop !== null) {
    out.push(`\tBGP.next_hop: ${r.nextHop}${r.linkLocal ? ` ${r.linkLocal}` : ""}`);
  }
  if (r.med !== undefined) out.push(`\tBGP.med: ${r.med}`);
  if (r.localPref !== undefined) out.push(`\tBGP.local_pref: ${r.localPref}`);
  if (r.atomicAggregate) out.push("\tBGP.atomic_aggr:");
  if (r.aggregator !== undefined) {
    const [asn, addr] = r.aggregator.split(" ");
    out.push(`\tBGP.aggregator: ${addr} AS${asn}`);
  }
  if (r.communities.length > 0) {
    out.push(`\tBGP.community: ${r.communities.map(communityBird).join(" ")}`);
  }
  if (r.largeCommunities.length > 0) {
    out.push(`\tBGP.large_community: ${r.largeCommunities.map(largeCommunityBird).join(" ")}`);
  }
  return out;
}

/** `birdc show route all`: a table per family, each route with its attributes. */
export function bgpRoutesText(v: BgpRoutesView): string {
  const what =
    v.direction === "in"
      ? ` (received from ${v.neighbor}, after import policy)`
      : v.direction === "out"
        ? ` (advertised to ${v.neighbor})`
        : "";
  if (v.total === 0) {
    const fam = v.family === null ? "" : ` ${v.family}`;
    return v.neighbor === null
      ? `no${fam} BGP routes in ${v.router}'s Loc-RIB`
      : `no${fam} routes${what}`;
  }
  const out: string[] = [];
  const width = Math.max(20, ...v.routes.map((r) => r.prefix.length));
  for (const family of ["ipv4", "ipv6"] as const) {
    const rows = v.routes.filter((r) => r.family === family);
    if (rows.length === 0) continue;
    if (out.length > 0) out.push("");
    out.push(`Table master${family === "ipv4" ? 4 : 6}${what}:`);
    for (const r of rows) out.push(...routeLines(r, v, width, r.prefix));
  }
  if (v.routes.length < v.total) out.push("", `(${v.routes.length} of ${v.total} routes shown)`);
  return out.join("\n");
}
