/**
 * Builders for small planner networks with known answers: plain spec
 * objects (what a YAML file holds) turned into indexed networks, failing
 * the test loudly if the fixture itself is wrong.
 */
import { networkFromDocument } from "../../migration/planner/load.ts";
import type { Network } from "../../migration/planner/network.ts";
import type { NetworkSpecInput } from "../../migration/planner/schema.ts";

export function network(doc: NetworkSpecInput | Record<string, unknown>): Network {
  const r = networkFromDocument(doc, "fixture");
  if (!r.ok) throw new Error(`fixture: ${r.errors.join("; ")}`);
  return r.network;
}

export function host(
  name: string,
  pop: string,
  over: Partial<{
    routers: number;
    cpu: number;
    throughputMbps: number;
    idleW: number;
    busyW: number;
    software: string;
    features: Record<string, number | boolean>;
    role: "backbone" | "trial";
  }> = {},
) {
  return {
    name,
    pop,
    role: over.role ?? "backbone",
    platform: { vendor: "vroom", software: over.software ?? "0.1", techniques: ["live"] },
    features: over.features ?? { acls: 4000 },
    capacity: {
      cpu: over.cpu ?? 16,
      memoryMb: 65536,
      routers: over.routers ?? 4,
      ...(over.throughputMbps !== undefined ? { throughputMbps: over.throughputMbps } : {}),
    },
    power: { idleW: over.idleW ?? 100, busyW: over.busyW ?? 200 },
  };
}

export function router(
  name: string,
  on: string,
  over: Partial<{ cpu: number; needs: Record<string, number | boolean>; software: string[] }> = {},
) {
  return {
    name,
    host: on,
    platform: {
      vendor: "vroom",
      technique: "live",
      ...(over.software ? { software: over.software } : {}),
    },
    needs: over.needs ?? {},
    demand: { cpu: over.cpu ?? 1, memoryMb: 1024 },
  };
}

/**
 * Two PoPs A and B 1 ms apart (link capacity `linkMbps`), a third PoP C
 * 1.5 ms from A; hosts a1 (2 routers), a2 (1 router), b1, c1; routers r1,
 * r2 on a1 and r3 on a2, r3 linked to r1 and r2, 100 Mb/s each way.
 */
export function evacuationNet(
  over: { b1Routers?: number; linkMbps?: number; r1Needs?: Record<string, number | boolean> } = {},
) {
  return network({
    name: "evac",
    headroom: { links: 0, hosts: 0 },
    pops: [
      { name: "A", lat: 40, lon: -75 },
      { name: "B", lat: 40, lon: -76 },
      { name: "C", lat: 41, lon: -75 },
    ],
    links: [
      { a: "A", b: "B", capacityMbps: over.linkMbps ?? 10_000, latencyMs: 1 },
      { a: "A", b: "C", capacityMbps: 10_000, latencyMs: 1.5 },
    ],
    hosts: [
      host("a1", "A", { routers: 2 }),
      host("a2", "A", { routers: 1 }),
      host("b1", "B", { routers: over.b1Routers ?? 4 }),
      host("c1", "C", { routers: 4 }),
    ],
    routers: [
      router("r1", "a1", { needs: over.r1Needs ?? {} }),
      router("r2", "a1"),
      router("r3", "a2"),
    ],
    virtualLinks: [
      { a: "r1", b: "r3" },
      { a: "r2", b: "r3" },
    ],
    traffic: {
      peakMbps: 0,
      demands: [
        { from: "r1", to: "r3", mbps: 100 },
        { from: "r3", to: "r1", mbps: 100 },
        { from: "r2", to: "r3", mbps: 100 },
        { from: "r3", to: "r2", mbps: 100 },
      ],
      diurnal: { hourly: Array(24).fill(1) },
    },
  });
}
