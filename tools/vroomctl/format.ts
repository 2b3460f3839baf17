/**
 * vroomctl's text output, in the shapes network operators already read:
 * routes as `ip route` prints them (iproute2: host routes without /32,
 * `default`, `proto`, `scope link`) or as BIRD's `birdc show route` does
 * (a table per family, `[source] * (distance)` with the next hop on an
 * indented line), neighbours as `ip neigh`, interfaces as `ip addr`, and
 * lists as aligned columns. Every function is pure: API data in, text out.
 */
import type {
  ReloadReport,
  RouterDetail,
  RouterSummary,
  StatusView,
  SwitchRuleView,
} from "../vroomd/daemon.ts";
import type {
  FibEntryView,
  InterfaceView,
  LinkView,
  NeighborView,
  NextHopView,
  RouteView,
} from "../vroomd/views.ts";

/** Aligned columns; the last column is not padded. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** "198.18.0.1/32" -> "198.18.0.1", "0.0.0.0/0" -> "default" (as `ip route`). */
function ipPrefix(prefix: string, family: 4 | 6): string {
  if (prefix === "0.0.0.0/0" || prefix === "::/0") return "default";
  const host = family === 4 ? "/32" : "/128";
  return prefix.endsWith(host) ? prefix.slice(0, -host.length) : prefix;
}

const PROTO: Record<string, string> = {
  local: "kernel",
  connected: "kernel",
  static: "static",
  bgp: "bgp",
};

function ipRouteLine(
  r: NextHopView & { prefix: string; family: 4 | 6 },
  source?: string,
  distance?: number,
): string {
  const dest = ipPrefix(r.prefix, r.family);
  const proto = source === undefined ? "" : ` proto ${PROTO[source] ?? source}`;
  const metric =
    source !== undefined && source !== "local" && source !== "connected" && distance !== undefined
      ? ` metric ${distance}`
      : "";
  switch (r.type) {
    case "local":
      return `local ${dest}${proto} scope host`;
    case "blackhole":
      return `blackhole ${dest}${proto}${metric}`;
    case "prohibit":
      return `prohibit ${dest}${proto}${metric}`;
    default: {
      const via = r.via === undefined ? "" : ` via ${r.via}`;
      const dev = r.interface === undefined ? "" : ` dev ${r.interface}`;
      const scope = r.via === undefined ? " scope link" : "";
      return `${dest}${via}${dev}${proto}${scope}${metric}`;
    }
  }
}

/** The routes in use (best per prefix), one `ip route` line each. */
export function routesIp(routes: RouteView[]): string {
  return routes
    .filter((r) => r.best)
    .map((r) => ipRouteLine(r, r.source, r.distance))
    .join("\n");
}

/** The FIB, one `ip route` line each. */
export function fibIp(entries: FibEntryView[]): string {
  return entries.map((e) => ipRouteLine(e)).join("\n");
}

const BIRD_SOURCE: Record<string, string> = {
  local: "local",
  connected: "direct",
  static: "static",
  bgp: "bgp",
};

const BIRD_TYPE: Record<string, string> = {
  unicast: "unicast",
  local: "local",
  prohibit: "prohibited",
  blackhole: "blackhole",
};

/**
 * The RIB as `birdc show route` prints it: "Table master4:" then each
 * prefix's routes, the best marked `*`, the number in parentheses being
 * the administrative distance (lower wins).
 */
export function routesBird(routes: RouteView[]): string {
  const out: string[] = [];
  const width = Math.max(20, ...routes.map((r) => r.prefix.length + 1));
  for (const family of [4, 6] as const) {
    const rows = routes.filter((r) => r.family === family);
    if (rows.length === 0) continue;
    if (out.length > 0) out.push("");
    out.push(`Table master${family}:`);
    let last = "";
    for (const r of rows) {
      const head = r.prefix === last ? "" : r.prefix;
      last = r.prefix;
      const mark = r.best ? " *" : "";
      out.push(
        `${head.padEnd(width)} ${BIRD_TYPE[r.type] ?? r.type} [${BIRD_SOURCE[r.source] ?? r.source}]${mark} (${r.distance})`,
      );
      if (r.type === "unicast") {
        if (r.via !== undefined)
          out.push(`\tvia ${r.via}${r.interface ? ` on ${r.interface}` : ""}`);
        else if (r.interface !== undefined) out.push(`\tdev ${r.interface}`);
      }
    }
  }
  return out.join("\n");
}

/** `ip neigh` lines. */
export function neighborsIp(neighbors: NeighborView[]): string {
  return neighbors
    .map((n) => {
      const mac = n.mac === undefined ? "" : ` lladdr ${n.mac}`;
      return `${n.address} dev ${n.interface}${mac} ${n.state.toUpperCase()}`;
    })
    .join("\n");
}

function dropsText(drops: Record<string, number>): string {
  const parts = Object.entries(drops)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

/** Interfaces as `ip addr` shows devices, with counters. */
export function interfacesIp(ifs: InterfaceView[]): string {
  const out: string[] = [];
  for (const i of ifs) {
    out.push(
      `${i.index}: ${i.name}: <${i.layer.toUpperCase()}> mtu ${i.mtu} link ${i.link ?? "(unbound)"}`,
    );
    if (i.mac !== undefined) out.push(`    link/ether ${i.mac}`);
    for (const a of i.addresses) out.push(`    ${a.includes(":") ? "inet6" : "inet"} ${a}`);
    if (i.linkLocal !== undefined) out.push(`    inet6 ${i.linkLocal}/64 scope link`);
    const c = i.counters;
    out.push(
      `    RX: ${c.rxPackets} packets, ${c.rxBytes} bytes  TX: ${c.txPackets} packets, ${c.txBytes} bytes`,
    );
    out.push(`    drops: ${dropsText(c.drops)}`);
  }
  return out.join("\n");
}

export function routerList(routers: RouterSummary[]): string {
  if (routers.length === 0) return "no routers";
  return table(
    ["NAME", "ORIGIN", "INTERFACES", "BOUND", "FIB4", "FIB6", "RX", "TX", "DROPS"],
    routers.map((r) => [
      r.name,
      r.origin,
      r.interfaces,
      r.bound,
      r.fib.ipv4,
      r.fib.ipv6,
      r.rxPackets,
      r.txPackets,
      r.drops,
    ]),
  );
}

export function routerDetail(r: RouterDetail): string {
  const c = r.counters as { rxPackets: number; txPackets: number; drops: Record<string, number> };
  const out = [
    `router ${r.name} (${r.origin === "config" ? "configuration file" : "created through the API"}, since ${r.since})`,
    `  interfaces ${r.interfaces} (${r.bound} bound); RIB ${r.rib.prefixes} prefixes; FIB ${r.fib.ipv4} IPv4, ${r.fib.ipv6} IPv6`,
    `  rx ${c.rxPackets} packets, tx ${c.txPackets} packets; drops: ${dropsText(c.drops)}`,
    ...(r.bgp === null || r.bgp === undefined
      ? []
      : [
          `  BGP AS${r.bgp.asn}, router id ${r.bgp.routerId}: ${r.bgp.established} of ${r.bgp.neighbors} neighbours established; Loc-RIB ${r.bgp.locRib.ipv4} IPv4, ${r.bgp.locRib.ipv6} IPv6`,
        ]),
    "",
    table(
      ["INTERFACE", "LAYER", "MTU", "LINK", "ADDRESSES"],
      r.interfaceList.map((i) => [
        i.name,
        i.layer,
        i.mtu,
        i.link ?? "-",
        i.addresses.join(" ") || "-",
      ]),
    ),
  ];
  if (r.inactiveStatics.length > 0) {
    out.push("", "inactive static routes:");
    for (const s of r.inactiveStatics) out.push(`  ${s.route}: ${s.reason}`);
  }
  return out.join("\n");
}

export function linkList(links: LinkView[]): string {
  if (links.length === 0) return "no links";
  return table(
    ["NAME", "KIND", "LAYER", "DEVICE/VNI", "BOUND TO", "SWITCHED TO", "RX", "TX", "DROPS"],
    links.map((l) => [
      l.name,
      l.kind,
      l.layer,
      l.device ?? (l.vni === undefined ? "-" : `vni ${l.vni}`),
      l.boundTo ?? "-",
      l.switchedTo ?? "-",
      l.stats.rxPackets,
      l.stats.txPackets,
      sum(l.stats.drops) + sum(l.path.drops),
    ]),
  );
}

export function linkDetail(l: LinkView): string {
  const what =
    l.device !== undefined ? ` device ${l.device}` : l.vni !== undefined ? ` vni ${l.vni}` : "";
  return [
    `link ${l.name}: ${l.kind}${what} (${l.layer.toUpperCase()})`,
    `  bound to: ${l.boundTo ?? "-"}; switched to: ${l.switchedTo ?? "-"}`,
    `  RX: ${l.stats.rxPackets} packets, ${l.stats.rxBytes} bytes  TX: ${l.stats.txPackets} packets, ${l.stats.txBytes} bytes`,
    `  to router ${l.path.toRouter}, switched ${l.path.switched}`,
    `  drops: link ${dropsText(l.stats.drops)}; path ${dropsText(l.path.drops)}`,
  ].join("\n");
}

export function switchingList(rules: SwitchRuleView[]): string {
  if (rules.length === 0) return "no switching rules";
  return table(
    ["FROM", "TO", "ORIGIN"],
    rules.map((r) => [r.from, r.to, r.origin]),
  );
}

export function statusText(s: StatusView): string {
  const out = [
    `vroomd ${s.version} on hypervisor ${s.hypervisor}, pid ${s.pid}, up ${duration(s.uptimeSeconds)} (since ${s.startedAt})`,
    `  configuration ${s.configFile}; state ${s.stateDir}`,
    `  API ${s.api.socket}${s.api.tcp ? `, tcp ${s.api.tcp}` : ""}${s.metrics ? `; metrics ${s.metrics}` : ""}`,
    `  ${s.counts.routers} routers, ${s.counts.links} links, ${s.counts.bindings} bindings, ${s.counts.switchingRules} switching rules`,
  ];
  if (s.lastReload !== null) {
    const r = s.lastReload;
    out.push(
      `  last reload ${r.at}: ${r.ok ? `applied, ${r.changes.length} changes` : `refused (${r.errors.length} errors)`}`,
    );
  }
  return out.join("\n");
}

export function reloadText(r: ReloadReport): string {
  if (r.changes.length === 0) return `reloaded ${r.file}: nothing changed`;
  return [`reloaded ${r.file}:`, ...r.changes.map((c) => `  ${c}`)].join("\n");
}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}
