/**
 * vroomd's Prometheus metrics (prom-client), served as text on `/metrics`
 * of the metrics listener and of the API. Nothing is counted twice: each
 * metric reads the routers' and the hypervisor's own counters when it is
 * scraped (prom-client `collect`), so the packet path pays nothing for it.
 * A registry per daemon, so several daemons in one process (tests) do not
 * mix their series.
 *
 * Per router and interface: packets and bytes by direction, drops by
 * reason (every reason the data plane knows, zeros included, so series are
 * stable), ICMP errors suppressed by the rate limit, neighbour entries. Per
 * router: FIB routes per family, RIB prefixes, inactive static routes, and
 * what the hypervisor's packet path saw (errors, drops by reason). Per
 * link: packets and bytes by direction, drops by reason (the link's own and
 * the packet path's), packets locally switched. Per router and BGP
 * neighbour (RFC 4271): the session state (one series per FSM state, 1 for
 * the current one), seconds in Established, routes accepted and advertised
 * per family, announcements received and refused, messages by direction and
 * type, flaps; per router the Loc-RIB's routes. Plus configuration reloads
 * and Node's process metrics.
 */

import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { NeighborStatus } from "../../router/bgp/speaker.ts";
import { DROP_REASON_NAMES } from "../../router/counters.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { BGP_STATES, FAMILY_NAMES, neighborTables } from "./bgp-views.ts";

/** BGP message types as the `type` label says them. */
const MESSAGE_TYPES = [
  ["open", "open"],
  ["update", "update"],
  ["notification", "notification"],
  ["keepalive", "keepalive"],
  ["routeRefresh", "route_refresh"],
] as const;

export interface MetricsSource {
  readonly hypervisorName: string;
  readonly version: string;
  readonly hypervisor: Hypervisor;
  routers(): Iterable<{ name: string; router: VirtualRouter }>;
  linkKind(name: string): string;
  reloads(): { ok: number; failed: number; lastSuccessSeconds: number; lastOk: boolean };
}

export function createMetrics(source: MetricsSource): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ hypervisor: source.hypervisorName });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({
    name: "vroom_info",
    help: "vroomd's version (value 1)",
    labelNames: ["version"],
    registers,
    collect() {
      this.set({ version: source.version }, 1);
    },
  });

  // ---- routers -----------------------------------------------------------------
  new Counter({
    name: "vroom_router_interface_packets_total",
    help: "Packets a router interface received (rx) and sent (tx)",
    labelNames: ["router", "interface", "direction"],
    registers,
    collect() {
      this.reset();
      for (const { name, router } of source.routers()) {
        for (const ifc of router.ifaces) {
          const l = { router: name, interface: ifc.name };
          this.inc({ ...l, direction: "rx" }, ifc.counters.rxPackets);
          this.inc({ ...l, direction: "tx" }, ifc.counters.txPackets);
        }
      }
    },
  });
  new Counter({
    name: "vroom_router_interface_bytes_total",
    help: "Bytes a router interface received (rx) and sent (tx)",
    labelNames: ["router", "interface", "direction"],
    registers,
    collect() {
      this.reset();
      for (const { name, router } of source.routers()) {
        for (const ifc of router.ifaces) {
          const l = { router: name, interface: ifc.name };
          this.inc({ ...l, direction: "rx" }, ifc.counters.rxBytes);
          this.inc({ ...l, direction: "tx" }, ifc.counters.txBytes);
        }
      }
    },
  });
  new Counter({
    name: "vroom_router_interface_drops_total",
    help: "Packets a router's data plane dropped, by input interface and reason",
    labelNames: ["router", "interface", "reason"],
    registers,
    collect() {
      this.reset();
      for (const { name, router } of source.routers()) {
        for (const ifc of router.ifaces) {
          ifc.counters.drops.forEach((n, i) => {
            this.inc({ router: name, interface: ifc.name, reason: DROP_REASON_NAMES[i] }, n);
          });
        }
      }
    },
  });
  new Counter({
    name: "vroom_router_interface_icmp_suppressed_total",
    help: "ICMP errors a router interface's traffic caused that the rate limit suppressed",
    labelNames: ["router", "interface"],
    registers,
    collect() {
      this.reset();
      for (const { name, router } of source.routers()) {
        for (const ifc of router.ifaces) {
          this.inc({ router: name, interface: ifc.name }, ifc.counters.icmpSuppressed);
        }
      }
    },
  });
  new Gauge({
    name: "vroom_router_neighbors",
    help: "Entries of a router interface's ARP (family 4) and neighbour discovery (6) caches",
    labelNames: ["router", "interface", "family"],
    registers,
    collect() {
      this.reset();
      for (const { name, router } of source.routers()) {
        for (const ifc of router.ifaces) {
          if (ifc.layer !== "l2") continue;
          this.set({ router: name, interface: ifc.name, family: "4" }, ifc.arp.size);
          this.set({ router: name, interface: ifc.name, family: "6" }, ifc.nd.size);
        }
      }
    },
  });
  new Gauge({
    name: "vroom_router_fib_routes",
    help: "Routes in a router's FIB, per address family",
    labelNames: ["router", "family"],
    registers,
    collect() {
      this.reset();
      for (const { name, router } of source.routers()) {
        this.set({ router: name, family: "4" }, router.fib.size4);
        this.set({ router: name, family: "6" }, router.fib.size6);
      }
    },
  });
  new Gauge({
    name: "vroom_router_rib_prefixes",
    help: "Prefixes with at least one route in a router's RIB",
    labelNames: ["router"],
    registers,
    collect() {
      this.reset();
      for (const { name, router } of source.routers()) this.set({ router: name }, router.rib.size);
    },
  });
  new Gauge({
    name: "vroom_router_inactive_static_routes",
    help: "Static routes of a router not installed (no interface's subnet holds the gateway)",
    labelNames: ["router"],
    registers,
    collect() {
      this.reset();
      for (const { name, router } of source.routers()) {
        this.set({ router: name }, router.inactiveStatics.length);
      }
    },
  });

  // ---- BGP ---------------------------------------------------------------------------
  /** Each BGP router's neighbours, as the speaker reports them now. */
  function* bgpNeighbors(): Generator<{ router: string; vr: VirtualRouter; n: NeighborStatus }> {
    const now = source.hypervisor.clock();
    for (const { name, router } of source.routers()) {
      if (router.bgp === undefined) continue;
      for (const n of router.bgp.neighbors(now)) yield { router: name, vr: router, n };
    }
  }
  /** A per-neighbour metric read from the speaker's status at scrape time. */
  function perNeighbor(make: typeof Counter | typeof Gauge) {
    return (name: string, help: string, read: (n: NeighborStatus) => number) =>
      new make({
        name,
        help,
        labelNames: ["router", "neighbor"],
        registers,
        collect() {
          this.reset();
          for (const { router, n } of bgpNeighbors()) {
            const labels = { router, neighbor: n.name };
            if (this instanceof Counter) this.inc(labels, read(n));
            else this.set(labels, read(n));
          }
        },
      });
  }
  const neighborCounter = perNeighbor(Counter);
  const neighborGauge = perNeighbor(Gauge);
  /** The routers that run BGP. */
  function* bgpRouters(): Generator<{ router: string; vr: VirtualRouter }> {
    for (const { name, router } of source.routers()) {
      if (router.bgp !== undefined) yield { router: name, vr: router };
    }
  }
  new Gauge({
    name: "vroom_bgp_neighbor_info",
    help: "A router's BGP neighbour (value 1): its AS and whether it is external or internal",
    labelNames: ["router", "neighbor", "peer_as", "type"],
    registers,
    collect() {
      this.reset();
      for (const { router, n } of bgpNeighbors()) {
        this.set(
          { router, neighbor: n.name, peer_as: String(n.asn), type: n.ebgp ? "ebgp" : "ibgp" },
          1,
        );
      }
    },
  });
  new Gauge({
    name: "vroom_bgp_neighbor_state",
    help: "A BGP session's FSM state (RFC 4271): 1 for the current state, 0 for the others",
    labelNames: ["router", "neighbor", "state"],
    registers,
    collect() {
      this.reset();
      for (const { router, n } of bgpNeighbors()) {
        for (const state of BGP_STATES) {
          this.set({ router, neighbor: n.name, state }, n.state === state ? 1 : 0);
        }
      }
    },
  });
  neighborGauge(
    "vroom_bgp_neighbor_admin_enabled",
    "Whether a BGP neighbour is administratively enabled (0 after disable)",
    (n) => (n.enabled ? 1 : 0),
  );
  neighborGauge(
    "vroom_bgp_neighbor_established_seconds",
    "Seconds a BGP session has been Established (0 when it is not)",
    (n) => (n.uptimeMs ?? 0) / 1000,
  );
  new Gauge({
    name: "vroom_bgp_neighbor_prefixes_accepted",
    help: "Routes held from a BGP neighbour after its import policy (Adj-RIB-In), per family",
    labelNames: ["router", "neighbor", "family"],
    registers,
    collect() {
      this.reset();
      for (const { router, vr } of bgpRouters()) {
        for (const n of vr.bgp!.neighborList) {
          const t = neighborTables(n);
          for (const family of FAMILY_NAMES) {
            this.set({ router, neighbor: n.name, family }, t[family].accepted);
          }
        }
      }
    },
  });
  new Gauge({
    name: "vroom_bgp_neighbor_prefixes_advertised",
    help: "Routes advertised to a BGP neighbour (Adj-RIB-Out), per family",
    labelNames: ["router", "neighbor", "family"],
    registers,
    collect() {
      this.reset();
      for (const { router, vr } of bgpRouters()) {
        for (const n of vr.bgp!.neighborList) {
          const t = neighborTables(n);
          for (const family of FAMILY_NAMES) {
            this.set({ router, neighbor: n.name, family }, t[family].advertised);
          }
        }
      }
    },
  });
  neighborCounter(
    "vroom_bgp_neighbor_prefixes_received_total",
    "Route announcements received from a BGP neighbour (every announcement counts)",
    (n) => n.prefixesReceived,
  );
  neighborCounter(
    "vroom_bgp_neighbor_prefixes_rejected_total",
    "Route announcements from a BGP neighbour refused by its import policy or as a loop",
    (n) => n.prefixesRejected,
  );
  neighborCounter(
    "vroom_bgp_neighbor_withdrawals_received_total",
    "Route withdrawals received from a BGP neighbour",
    (n) => n.withdrawalsReceived,
  );
  new Counter({
    name: "vroom_bgp_neighbor_messages_total",
    help: "BGP messages received (in) from and sent (out) to a neighbour, by type",
    labelNames: ["router", "neighbor", "direction", "type"],
    registers,
    collect() {
      this.reset();
      for (const { router, n } of bgpNeighbors()) {
        for (const [key, type] of MESSAGE_TYPES) {
          this.inc({ router, neighbor: n.name, direction: "in", type }, n.messagesIn[key] ?? 0);
          this.inc({ router, neighbor: n.name, direction: "out", type }, n.messagesOut[key] ?? 0);
        }
      }
    },
  });
  new Counter({
    name: "vroom_bgp_neighbor_flaps_total",
    help: "Times a BGP session left Established",
    labelNames: ["router", "neighbor"],
    registers,
    collect() {
      this.reset();
      for (const { router, n } of bgpNeighbors()) this.inc({ router, neighbor: n.name }, n.flaps);
    },
  });
  neighborCounter(
    "vroom_bgp_neighbor_established_total",
    "Times a BGP session reached Established",
    (n) => n.establishedCount,
  );
  new Gauge({
    name: "vroom_bgp_loc_rib_routes",
    help: "Best routes in a router's BGP Loc-RIB, per family",
    labelNames: ["router", "family"],
    registers,
    collect() {
      this.reset();
      for (const { router, vr } of bgpRouters()) {
        const s = vr.bgp!.stats();
        this.set({ router, family: "ipv4" }, s.locRib4);
        this.set({ router, family: "ipv6" }, s.locRib6);
      }
    },
  });

  // ---- the hypervisor's packet path ------------------------------------------------
  new Gauge({
    name: "vroom_hypervisor_routers",
    help: "Virtual routers placed on this hypervisor",
    registers,
    collect() {
      this.set(source.hypervisor.placement.size);
    },
  });
  new Gauge({
    name: "vroom_hypervisor_links",
    help: "Substrate links of this hypervisor, by kind",
    labelNames: ["kind"],
    registers,
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const name of source.hypervisor.links.names()) {
        const k = source.linkKind(name);
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      for (const [kind, n] of counts) this.set({ kind }, n);
    },
  });
  new Counter({
    name: "vroom_hypervisor_router_errors_total",
    help: "Exceptions a router raised in receive or poll (caught and counted)",
    labelNames: ["router"],
    registers,
    collect() {
      this.reset();
      for (const [router, c] of Object.entries(source.hypervisor.stats().routers)) {
        this.inc({ router }, c.errors);
      }
    },
  });
  new Counter({
    name: "vroom_hypervisor_router_drops_total",
    help: "Packets a router sent that no link took, by reason (unbound-interface, tx-refused)",
    labelNames: ["router", "reason"],
    registers,
    collect() {
      this.reset();
      for (const [router, c] of Object.entries(source.hypervisor.stats().routers)) {
        for (const reason of ["unbound-interface", "tx-refused"]) {
          this.inc({ router, reason }, c.drops[reason] ?? 0);
        }
      }
    },
  });
  new Counter({
    name: "vroom_hypervisor_link_packets_total",
    help: "Packets a substrate link received (rx) and sent (tx)",
    labelNames: ["link", "kind", "direction"],
    registers,
    collect() {
      this.reset();
      for (const [link, s] of Object.entries(source.hypervisor.stats().links)) {
        const kind = source.linkKind(link);
        this.inc({ link, kind, direction: "rx" }, s.link.rxPackets);
        this.inc({ link, kind, direction: "tx" }, s.link.txPackets);
      }
    },
  });
  new Counter({
    name: "vroom_hypervisor_link_bytes_total",
    help: "Bytes a substrate link received (rx) and sent (tx)",
    labelNames: ["link", "kind", "direction"],
    registers,
    collect() {
      this.reset();
      for (const [link, s] of Object.entries(source.hypervisor.stats().links)) {
        const kind = source.linkKind(link);
        this.inc({ link, kind, direction: "rx" }, s.link.rxBytes);
        this.inc({ link, kind, direction: "tx" }, s.link.txBytes);
      }
    },
  });
  new Counter({
    name: "vroom_hypervisor_link_drops_total",
    help: "Packets dropped on a substrate link by the link or the packet path, by reason",
    labelNames: ["link", "reason"],
    registers,
    collect() {
      this.reset();
      for (const [link, s] of Object.entries(source.hypervisor.stats().links)) {
        const reasons = new Map<string, number>();
        for (const d of [s.link.drops, s.path.drops]) {
          for (const [reason, n] of Object.entries(d)) {
            reasons.set(reason, (reasons.get(reason) ?? 0) + n);
          }
        }
        for (const reason of ["unbound", "switch-refused", "tx-refused"]) {
          if (!reasons.has(reason)) reasons.set(reason, 0);
        }
        for (const [reason, n] of reasons) this.inc({ link, reason }, n);
      }
    },
  });
  new Counter({
    name: "vroom_hypervisor_link_switched_packets_total",
    help: "Packets received on a link and sent on by a local switching rule",
    labelNames: ["link"],
    registers,
    collect() {
      this.reset();
      for (const [link, s] of Object.entries(source.hypervisor.stats().links)) {
        this.inc({ link }, s.path.switched);
      }
    },
  });

  // ---- configuration -------------------------------------------------------------
  new Counter({
    name: "vroom_config_reloads_total",
    help: "Configuration reloads, by result (ok, refused)",
    labelNames: ["result"],
    registers,
    collect() {
      this.reset();
      const r = source.reloads();
      this.inc({ result: "ok" }, r.ok);
      this.inc({ result: "refused" }, r.failed);
    },
  });
  new Gauge({
    name: "vroom_config_last_reload_successful",
    help: "Whether the last configuration reload succeeded (1) or was refused (0)",
    registers,
    collect() {
      this.set(source.reloads().lastOk ? 1 : 0);
    },
  });
  new Gauge({
    name: "vroom_config_last_reload_success_timestamp_seconds",
    help: "When the configuration was last applied successfully (start-up included)",
    registers,
    collect() {
      this.set(source.reloads().lastSuccessSeconds);
    },
  });
  return registry;
}
