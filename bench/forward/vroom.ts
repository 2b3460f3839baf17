/**
 * The router under test, in this process: one `Hypervisor` with one vroom
 * `VirtualRouter` ("r1") of two interfaces, 198.18.0.1/24 (towards A) and
 * 198.18.1.1/24 (towards B), bound either to two TUN links (L3) or to two
 * VXLAN links (L2, RFC 7348) of the hypervisor's VXLAN endpoint.
 *
 * The router's FIB holds the whole benchmark table (bench/table.ts: the
 * real BGP table when present, else a synthetic one), inserted straight into
 * `router.fib` through one shared Forward adjacency out of interface 1 via
 * B's address, so every lookup runs against a full table. Table prefixes
 * that would shadow the lab's own subnets (equal to or inside 198.18.0.0/23)
 * are left out and counted; `check` then asserts that B's address still
 * resolves to the connected route of interface 1 and A's to interface 0.
 */
import { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { QueueMode } from "../../hypervisor/native.ts";
import { AdjacencyKind } from "../../router/adjacency.ts";
import { VirtualRouter } from "../../router/router.ts";
import type { BenchTable } from "../table.ts";

export const ROUTER = "r1";
/** Router side and host side of each subnet. */
export const NET = {
  aRouter: "198.18.0.1",
  aHost: "198.18.0.2",
  bRouter: "198.18.1.1",
  bHost: "198.18.1.2",
} as const;
/** IPv6 gateway of the table's IPv6 routes (documentation prefix, never used on the wire). */
const GATEWAY6 = [0x20010db8, 1, 0, 2];
const LAB4 = 0xc6120000; // 198.18.0.0
const LAB4_LEN = 23;

export interface TableLoad {
  source: string;
  routes4: number;
  routes6: number;
  /** Table prefixes left out because they would shadow the lab's subnets. */
  skipped4: number;
  loadMs: number;
}

export interface VroomUnderTest {
  hypervisor: Hypervisor;
  router: VirtualRouter;
  table: TableLoad;
  close(): void;
}

function ip4(text: string): number {
  return text.split(".").reduce((v, p) => v * 256 + Number(p), 0) >>> 0;
}

/** Whether prefix/len is equal to or more specific than a prefix inside 198.18.0.0/23. */
function shadowsLab(prefix: number, len: number): boolean {
  if (len < LAB4_LEN) return false;
  return (prefix ^ LAB4) >>> (32 - LAB4_LEN) === 0;
}

function loadFib(router: VirtualRouter, table: BenchTable): TableLoad {
  const t0 = performance.now();
  const hop4 = router.adjacencies.acquire({
    kind: AdjacencyKind.Forward,
    ifIndex: 1,
    gateway: [ip4(NET.bHost)],
  });
  const hop6 = router.adjacencies.acquire({
    kind: AdjacencyKind.Forward,
    ifIndex: 1,
    gateway: GATEWAY6,
  });
  const { v4, v6 } = table;
  let skipped4 = 0;
  for (let i = 0; i < v4.count; i++) {
    const p = v4.prefixes[i];
    const len = v4.lengths[i];
    if (shadowsLab(p, len)) skipped4++;
    else router.fib.insert4(p, len, hop4);
  }
  for (let i = 0; i < v6.count; i++) {
    router.fib.insert6(v6.prefixes.subarray(i * 4, i * 4 + 4), v6.lengths[i], hop6);
  }
  check(router, NET.bHost, 1);
  check(router, NET.aHost, 0);
  return {
    source: table.source,
    routes4: router.fib.size4,
    routes6: router.fib.size6,
    skipped4,
    loadMs: performance.now() - t0,
  };
}

/** Throws unless `addr` resolves to an on-link Forward adjacency out of `ifIndex`. */
function check(router: VirtualRouter, addr: string, ifIndex: number): void {
  const hop = router.fib.lookup4(ip4(addr));
  const adj = router.adjacencies;
  if (
    adj.kind[hop] !== AdjacencyKind.Forward ||
    adj.ifIndex[hop] !== ifIndex ||
    adj.viaGateway[hop]
  ) {
    throw new Error(`FIB: ${addr} does not resolve to the connected route of interface ${ifIndex}`);
  }
}

function onError(error: unknown, where: string): void {
  process.stderr.write(`forward: hypervisor: ${where}: ${String(error)}\n`);
}

export interface TunOptions {
  /** Device names to create (in this namespace; the caller moves them). */
  devA: string;
  devB: string;
  mode: QueueMode;
  txQueueLen: number;
}

/** The router over two TUN links, "a" (device devA) and "b" (device devB). */
export function vroomOverTun(table: BenchTable, o: TunOptions): VroomUnderTest {
  const hypervisor = new Hypervisor({ onError });
  try {
    for (const [name, device] of [
      ["a", o.devA],
      ["b", o.devB],
    ] as const) {
      hypervisor.addTun({ name, device, txQueueLen: o.txQueueLen, queue: { mode: o.mode } });
    }
    const made = VirtualRouter.create(
      {
        name: ROUTER,
        interfaces: [
          { name: "a", layer: "l3", addresses: [`${NET.aRouter}/24`] },
          { name: "b", layer: "l3", addresses: [`${NET.bRouter}/24`] },
        ],
      },
      { arena: hypervisor.arena },
    );
    if (!made.ok) throw new Error(`router config: ${made.errors.join("; ")}`);
    const router = made.router;
    const load = loadFib(router, table);
    hypervisor.addRouter(router);
    hypervisor.bind(ROUTER, 0, "a");
    hypervisor.bind(ROUTER, 1, "b");
    return { hypervisor, router, table: load, close: () => hypervisor.close() };
  } catch (e) {
    hypervisor.close();
    throw e;
  }
}

export interface VxlanOptions {
  /** Underlay address of the VTEP in front of A and of B. */
  remoteA: string;
  remoteB: string;
  vniA: number;
  vniB: number;
  /** Router interface MACs. */
  macA: string;
  macB: string;
  /** The inner MTU (1500 less the 50 octets of VXLAN over IPv4). */
  mtu: number;
}

/**
 * The router over two VXLAN links of one endpoint bound to an ephemeral port
 * on every address of this namespace; the kernel vxlan devices must use
 * `endpointPort` as their dstport (read it from the answer's hypervisor).
 */
export function vroomOverVxlan(table: BenchTable, o: VxlanOptions): VroomUnderTest {
  const hypervisor = new Hypervisor({ onError });
  try {
    const ep = hypervisor.openVxlanEndpoint({ address: "0.0.0.0", port: 0 });
    for (const [name, vni, remote] of [
      ["a", o.vniA, o.remoteA],
      ["b", o.vniB, o.remoteB],
    ] as const) {
      hypervisor.addVxlan({ name, vni, remotes: [remote], remotePort: ep.port, learning: false });
    }
    const made = VirtualRouter.create(
      {
        name: ROUTER,
        interfaces: [
          { name: "a", layer: "l2", mtu: o.mtu, mac: o.macA, addresses: [`${NET.aRouter}/24`] },
          { name: "b", layer: "l2", mtu: o.mtu, mac: o.macB, addresses: [`${NET.bRouter}/24`] },
        ],
      },
      { arena: hypervisor.arena },
    );
    if (!made.ok) throw new Error(`router config: ${made.errors.join("; ")}`);
    const router = made.router;
    const load = loadFib(router, table);
    hypervisor.addRouter(router);
    hypervisor.bind(ROUTER, 0, "a");
    hypervisor.bind(ROUTER, 1, "b");
    return { hypervisor, router, table: load, close: () => hypervisor.close() };
  } catch (e) {
    hypervisor.close();
    throw e;
  }
}
