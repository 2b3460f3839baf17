/**
 * A virtual router's configuration: its interfaces (layer, MTU, MAC,
 * addresses) and static routes, as a zod schema that checks and normalises
 * plain data (what vroomd's YAML file and the API carry) into typed values.
 * `parseRouterConfig` never throws: it returns the normalised config or
 * every problem found, each with the path of the field at fault, so nothing
 * starts half-configured.
 */
import { z } from "zod";
import { type Prefix, parsePrefix } from "../fib/prefix.ts";
import { type BgpConfig, bgpSchema, normalizeBgpConfig } from "./bgp/config.ts";
import type { InterfaceLayer } from "./port.ts";
import { parseMac } from "./wire/bytes.ts";

export interface InterfaceAddress4 {
  address: number;
  length: number;
}

export interface InterfaceAddress6 {
  address: Uint32Array;
  length: number;
}

export interface InterfaceConfig {
  name: string;
  layer: InterfaceLayer;
  /** IP MTU. */
  mtu: number;
  /** 48-bit MAC address (L2 interfaces; derived from the names when not given). */
  mac: number;
  ipv4: InterfaceAddress4[];
  ipv6: InterfaceAddress6[];
}

export type StaticAction = "forward" | "reject" | "blackhole";

export interface StaticRoute {
  prefix: Prefix;
  /** Gateway (same family as the prefix), or undefined for an on-link route. */
  via?: Uint32Array;
  /** Output interface name (required for on-link routes). */
  interface?: string;
  action: StaticAction;
  /** Administrative distance (default 1). */
  distance: number;
}

export interface RouterConfig {
  name: string;
  interfaces: InterfaceConfig[];
  staticRoutes: StaticRoute[];
  /** The BGP speaker (router/bgp/config.ts), when the router runs one. */
  bgp?: BgpConfig;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

const interfaceSchema = z.strictObject({
  name: z.string().regex(NAME, "names are 1-32 letters, digits, '_', '.', '-'"),
  layer: z.enum(["l2", "l3"]),
  mtu: z.number().int().min(68).max(9000).default(1500),
  mac: z.string().optional(),
  addresses: z.array(z.string()).default([]),
});

const staticRouteSchema = z.strictObject({
  prefix: z.string(),
  via: z.string().optional(),
  interface: z.string().optional(),
  action: z.enum(["forward", "reject", "blackhole"]).default("forward"),
  distance: z.number().int().min(1).max(255).default(1),
});

const routerSchema = z.strictObject({
  name: z.string().regex(NAME, "names are 1-32 letters, digits, '_', '.', '-'"),
  interfaces: z.array(interfaceSchema).min(1),
  staticRoutes: z.array(staticRouteSchema).default([]),
  bgp: bgpSchema.optional(),
});

export type RouterConfigInput = z.input<typeof routerSchema>;

/** A locally administered unicast MAC derived from the router and interface names. */
export function derivedMac(router: string, iface: string): number {
  let h = 0x811c9dc5;
  for (const c of `${router}/${iface}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return 0x02_00_00_00_00_00 + ((h >>> 0) % 0x1_00_00_00_00) * 0x100 + (h & 0xff);
}

export function parseRouterConfig(
  input: unknown,
): { ok: true; config: RouterConfig } | { ok: false; errors: string[] } {
  const parsed = routerSchema.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => `${i.path.join(".") || "(router)"}: ${i.message}`),
    };
  }
  const raw = parsed.data;
  const errors: string[] = [];
  const names = new Set<string>();
  const interfaces: InterfaceConfig[] = raw.interfaces.map((ifc, i) => {
    const at = `interfaces.${i}`;
    if (names.has(ifc.name)) errors.push(`${at}.name: duplicate interface '${ifc.name}'`);
    names.add(ifc.name);
    let mac = derivedMac(raw.name, ifc.name);
    if (ifc.mac !== undefined) {
      const m = parseMac(ifc.mac);
      if (m === undefined || m % 2 ** 41 >= 2 ** 40) {
        errors.push(`${at}.mac: '${ifc.mac}' is not a unicast MAC address`);
      } else mac = m;
    }
    const out: InterfaceConfig = {
      name: ifc.name,
      layer: ifc.layer,
      mtu: ifc.mtu,
      mac,
      ipv4: [],
      ipv6: [],
    };
    ifc.addresses.forEach((text, k) => {
      const p = parsePrefix(text, { maskHostBits: true });
      if (!p.ok) {
        errors.push(`${at}.addresses.${k}: ${p.error}`);
        return;
      }
      const host = parsePrefix(text.split("/")[0]);
      if (!host.ok || !text.includes("/")) {
        errors.push(`${at}.addresses.${k}: '${text}' needs a prefix length (address/len)`);
        return;
      }
      if (p.prefix.family === 4)
        out.ipv4.push({ address: host.prefix.words[0], length: p.prefix.length });
      else out.ipv6.push({ address: host.prefix.words, length: p.prefix.length });
    });
    if (ifc.layer === "l3" && ifc.mac !== undefined)
      errors.push(`${at}.mac: an l3 interface has no MAC`);
    return out;
  });
  const staticRoutes: StaticRoute[] = [];
  raw.staticRoutes.forEach((r, i) => {
    const at = `staticRoutes.${i}`;
    const p = parsePrefix(r.prefix);
    if (!p.ok) {
      errors.push(`${at}.prefix: ${p.error}`);
      return;
    }
    const route: StaticRoute = { prefix: p.prefix, action: r.action, distance: r.distance };
    if (r.via !== undefined) {
      const v = parsePrefix(r.via);
      if (!v.ok || v.prefix.length !== (v.prefix.family === 4 ? 32 : 128) || r.via.includes("/")) {
        errors.push(`${at}.via: '${r.via}' is not an address`);
        return;
      }
      if (v.prefix.family !== p.prefix.family) {
        errors.push(`${at}.via: gateway ${r.via} is not of the prefix's family`);
        return;
      }
      route.via = v.prefix.words;
    }
    if (r.interface !== undefined) {
      if (!names.has(r.interface)) {
        errors.push(`${at}.interface: no interface '${r.interface}'`);
        return;
      }
      route.interface = r.interface;
    }
    if (r.action === "forward" && route.via === undefined && route.interface === undefined) {
      errors.push(`${at}: a forwarding route needs 'via' or 'interface'`);
      return;
    }
    if (r.action !== "forward" && (route.via !== undefined || route.interface !== undefined)) {
      errors.push(`${at}: a ${r.action} route takes no 'via' or 'interface'`);
      return;
    }
    staticRoutes.push(route);
  });
  let bgp: BgpConfig | undefined;
  if (raw.bgp !== undefined) {
    const b = normalizeBgpConfig(
      raw.bgp,
      interfaces.flatMap((i) => i.ipv4.map((a) => a.address)),
    );
    if (b.ok) bgp = b.config;
    else errors.push(...b.errors);
  }
  if (errors.length > 0) return { ok: false, errors };
  const config: RouterConfig = { name: raw.name, interfaces, staticRoutes };
  if (bgp) config.bgp = bgp;
  return { ok: true, config };
}
