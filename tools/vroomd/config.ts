/**
 * vroomd's configuration file: one YAML document with the hypervisor's
 * identity and services (`hypervisor`), its VXLAN endpoint (`vxlan`), its
 * substrate links (`links`), its virtual routers (`routers`) and its local
 * switching rules (`switching`).
 *
 * Each router section is the router's own configuration (router/config.ts,
 * checked by `parseRouterConfig`, so whatever that schema grows — BGP —
 * comes here for free) plus one daemon-only key per interface, `link`, the
 * substrate link the interface is bound to. The loader strips `link` before
 * handing the section over and keeps it as the router's bindings.
 *
 * Loading never throws on bad input: it answers the whole configuration or
 * every problem found, each with the file, line and column (from the YAML
 * node ranges through a LineCounter) and the dotted path of the field at
 * fault, so a daemon never starts, or reloads into, half a configuration.
 * Checks that span sections are made here too: unique names, devices and
 * VNIs, bindings to links that exist and have the interface's layer, one
 * interface per link, switching rules between existing links of one layer.
 * Relative paths in the `hypervisor` section are taken from the file's
 * directory.
 */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document as YamlDocument,
  type Node as YamlNode,
} from "yaml";
import { z } from "zod";
import { parseRouterConfig, type RouterConfig } from "../../router/config.ts";
import { parseMac } from "../../router/wire/bytes.ts";

// ---- the configuration, as the daemon uses it -----------------------------------

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
export type LogFormat = "json" | "pretty";

export interface ListenAddress {
  host: string;
  /** 0: any free port (tests). */
  port: number;
}

export interface HypervisorSection {
  /** The hypervisor's name (its identity towards peers and in metrics). */
  name: string;
  /** Absolute path of the state directory. */
  stateDir: string;
  /** Size of the packet arena, MiB. */
  arenaMiB: number;
  api: {
    /** Absolute path of the Unix socket (mode 0600). */
    socket: string;
    tcp?: { listen: ListenAddress; tokenFile: string };
  };
  log: { level: LogLevel; format: LogFormat };
  metrics?: { listen: ListenAddress };
}

interface LinkBase {
  name: string;
}

export interface TunLinkConfig extends LinkBase {
  kind: "tun";
  /** The kernel device to create or attach to. */
  device: string;
  mtu?: number;
  txQueueLen?: number;
}

export interface TapLinkConfig extends LinkBase {
  kind: "tap";
  device: string;
  mtu?: number;
  txQueueLen?: number;
  /** The device's own (kernel side) MAC address, 48 bits. */
  mac?: number;
}

export interface VxlanLinkConfig extends LinkBase {
  kind: "vxlan";
  vni: number;
  remotes: string[];
  remotePort: number;
  learning: boolean;
  ageMs?: number;
  maxLearned?: number;
}

/**
 * An in-memory link pair (hypervisor/links/memory.ts), for tests and dry
 * runs: the named end is the hypervisor's link; the other end (`peer`) is
 * held by the daemon for whoever drives the test.
 */
export interface MemoryLinkConfig extends LinkBase {
  kind: "memory";
  layer: "l2" | "l3";
  peer: string;
}

export type LinkConfig = TunLinkConfig | TapLinkConfig | VxlanLinkConfig | MemoryLinkConfig;

export interface BindingConfig {
  interface: string;
  ifIndex: number;
  link: string;
}

export interface DaemonRouterConfig {
  name: string;
  /** The checked router configuration (router/config.ts). */
  router: RouterConfig;
  /**
   * The router section as written, without the interfaces' `link` keys:
   * what `parseRouterConfig` read, and what a reload compares to decide
   * whether the router must be rebuilt.
   */
  section: Record<string, unknown>;
  /** Interface -> link, from the interfaces' `link` keys. */
  bindings: BindingConfig[];
}

export interface SwitchRuleConfig {
  from: string;
  to: string;
}

/** A peer hypervisor routers may move to and from (docs/MIGRATION.md, "Security"). */
export interface MigrationPeerConfig {
  name: string;
  /** Its migration channel. */
  address: ListenAddress;
  /** Its main VXLAN endpoint on the underlay (redirected frames go there). */
  vtep: ListenAddress;
  /** Pre-shared key (hex, at least 32 bytes) or the SHA-256 fingerprint of its certificate. */
  psk?: string;
  fingerprint?: string;
}

/** A VXLAN segment an interface of a router moving here is given. */
export interface MigrationSegmentConfig {
  vni: number;
  remotes: string[];
  remotePort?: number;
}

export interface MigrationSection {
  /** Where the migration channel (TLS 1.3) listens. */
  listen: ListenAddress;
  /** The second VXLAN endpoint that carries redirected links to a router's new home. */
  tunnel: { listen: ListenAddress };
  /** Absolute paths of this hypervisor's PEM certificate and key (for fingerprint peers). */
  certificate?: { cert: string; key: string };
  peers: MigrationPeerConfig[];
  /** router -> interface -> the segment it is given when it moves here. */
  segments: Record<string, Record<string, MigrationSegmentConfig>>;
  /**
   * Command (argv) run to re-home a neighbour's end of a redirected link;
   * {router} {interface} {link} {vni} {peer} {vtep} {remotes} are replaced.
   * Without it, redirects stay until removed through the API.
   */
  rehome?: string[];
  handshakeTimeoutMs: number;
  /** Routers this hypervisor takes in by migration at most (a request beyond is refused: NoCapacity). */
  maxRouters?: number;
}

export interface DaemonConfig {
  /** Absolute path of the file read ("" for text parsed on its own). */
  file: string;
  hypervisor: HypervisorSection;
  vxlan: { listen: ListenAddress };
  links: LinkConfig[];
  routers: DaemonRouterConfig[];
  switching: SwitchRuleConfig[];
  /** Live migration (absent: this hypervisor neither sends nor takes routers). */
  migration?: MigrationSection;
  /** Locates an issue in the text the configuration was read from (when read from text). */
  locate?: (issue: ConfigIssue) => ConfigError;
}

export class ConfigError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    /** Dotted path of the field at fault ("" for the whole document). */
    readonly path: string,
    readonly message: string,
  ) {}

  toString(): string {
    return `${this.file}:${this.line}:${this.column}: ${this.path || "(config)"}: ${this.message}`;
  }

  toJSON(): Record<string, unknown> {
    const { file, line, column, path, message } = this;
    return { file, line, column, path, message };
  }
}

export type ConfigResult =
  | { ok: true; config: DaemonConfig }
  | { ok: false; errors: ConfigError[] };

/** One problem, located by its path in the document. */
export interface ConfigIssue {
  path: (string | number)[];
  message: string;
  /** Point at the key of the last path element rather than its value. */
  atKey?: boolean;
}

// ---- defaults --------------------------------------------------------------------

export const DEFAULT_SOCKET = "/run/vroom/vroomd.sock";
export const DEFAULT_STATE_DIR = "/var/lib/vroom";
export const DEFAULT_TCP_LISTEN = "127.0.0.1:7179";
export const DEFAULT_VXLAN_LISTEN = "0.0.0.0:4789";
export const DEFAULT_ARENA_MIB = 16;
export const DEFAULT_MIGRATION_LISTEN = "0.0.0.0:7180";
export const DEFAULT_TUNNEL_LISTEN = "0.0.0.0:4790";

// ---- schema ----------------------------------------------------------------------

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const NAME_HINT = "names are 1-32 letters, digits, '_', '.', '-'";
/** Linux interface names: up to IFNAMSIZ-1 = 15 bytes, no '/', ':' or spaces. */
const DEVICE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const DEVICE_HINT = "device names are 1-15 letters, digits, '_', '.', '-'";

const name = z.string().regex(NAME, NAME_HINT);

/** Parses "host:port" or "[v6]:port"; a port of 0 means any free port. */
export function parseListen(text: string): ListenAddress | string {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) return `'${text}' is not host:port (IPv6: [address]:port)`;
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  if (isIP(host) === 0 && host !== "localhost") return `'${host}' is not an IP address`;
  if (m[1] !== undefined && isIP(host) !== 6) return `'${host}' is not an IPv6 address`;
  return { host, port };
}

const listen = z.string().transform((text, ctx) => {
  const r = parseListen(text);
  if (typeof r === "string") {
    ctx.addIssue({ code: "custom", message: r });
    return z.NEVER;
  }
  return r;
});

const hypervisorSchema = z.strictObject({
  name: name.optional(),
  stateDir: z.string().min(1).default(DEFAULT_STATE_DIR),
  arenaMiB: z.number().int().min(1).max(1024).default(DEFAULT_ARENA_MIB),
  api: z
    .strictObject({
      socket: z.string().min(1).default(DEFAULT_SOCKET),
      tcp: z
        .strictObject({
          listen: listen.optional(),
          tokenFile: z.string().min(1),
        })
        .optional(),
    })
    .default({ socket: DEFAULT_SOCKET }),
  log: z
    .strictObject({
      level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
      format: z.enum(["json", "pretty"]).default("json"),
    })
    .default({ level: "info", format: "json" }),
  metrics: z.strictObject({ listen }).optional(),
});

const device = z.string().regex(DEVICE, DEVICE_HINT);
const mtu = z.number().int().min(68).max(9000);
const txQueueLen = z.number().int().min(1).max(1_000_000);

const linkSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    name,
    kind: z.literal("tun"),
    device: device.optional(),
    mtu: mtu.optional(),
    txQueueLen: txQueueLen.optional(),
  }),
  z.strictObject({
    name,
    kind: z.literal("tap"),
    device: device.optional(),
    mtu: mtu.optional(),
    txQueueLen: txQueueLen.optional(),
    mac: z.string().optional(),
  }),
  z.strictObject({
    name,
    kind: z.literal("vxlan"),
    vni: z.number().int().min(0).max(0xffffff),
    remotes: z.array(z.string()).default([]),
    remotePort: z.number().int().min(1).max(65535).default(4789),
    learning: z.boolean().default(true),
    ageMs: z.number().int().min(1).optional(),
    maxLearned: z.number().int().min(0).optional(),
  }),
  z.strictObject({
    name,
    kind: z.literal("memory"),
    layer: z.enum(["l2", "l3"]).default("l3"),
    peer: name.optional(),
  }),
]);

const switchSchema = z.strictObject({ from: name, to: name });

const HEX_PSK = /^([0-9a-f]{2})+$/i;
const FINGERPRINT = /^([0-9a-f]{2}:?){31}[0-9a-f]{2}$/i;

const migrationPeerSchema = z
  .strictObject({
    name,
    address: listen,
    vtep: z.string().min(1).optional(),
    vxlanPort: z.number().int().min(1).max(65535).default(4789),
    psk: z
      .string()
      .regex(HEX_PSK, "hex digits")
      .min(64, "at least 32 bytes (64 hex digits)")
      .max(1024)
      .optional(),
    fingerprint: z
      .string()
      .regex(FINGERPRINT, "a SHA-256 fingerprint (32 bytes as hex, ':' optional)")
      .optional(),
  })
  .refine((p) => (p.psk === undefined) !== (p.fingerprint === undefined), {
    message: "give exactly one of psk and fingerprint",
  });

const segmentSchema = z.strictObject({
  vni: z.number().int().min(0).max(0xffffff),
  remotes: z.array(z.string().min(1)).min(1).max(64),
  remotePort: z.number().int().min(1).max(65535).optional(),
});

const migrationSchema = z.strictObject({
  listen: listen.optional(),
  tunnel: z.strictObject({ listen: listen.optional() }).optional(),
  certificate: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  peers: z.array(migrationPeerSchema).max(1024).default([]),
  segments: z.record(name, z.record(z.string().min(1), segmentSchema)).default({}),
  rehome: z.array(z.string().min(1)).min(1).optional(),
  handshakeTimeoutMs: z.number().int().min(1).max(600_000).default(5000),
  maxRouters: z.number().int().min(0).max(1_000_000).optional(),
});

const topSchema = z.strictObject({
  hypervisor: hypervisorSchema.default({
    stateDir: DEFAULT_STATE_DIR,
    arenaMiB: DEFAULT_ARENA_MIB,
    api: { socket: DEFAULT_SOCKET },
    log: { level: "info", format: "json" },
  }),
  vxlan: z.strictObject({ listen: listen.optional() }).optional(),
  links: z.array(z.unknown()).default([]),
  routers: z.array(z.unknown()).default([]),
  switching: z.array(switchSchema).default([]),
  migration: migrationSchema.optional(),
});

/** zod issues as ConfigIssues, prefixed with `base`. */
export function zodIssues(error: z.ZodError, base: (string | number)[] = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const i of error.issues) {
    const path = [...base, ...(i.path as (string | number)[])];
    if (i.code === "unrecognized_keys") {
      for (const key of i.keys) {
        out.push({ path: [...path, key], message: `unknown field '${key}'`, atKey: true });
      }
      continue;
    }
    if (i.code === "invalid_union" && "discriminator" in i && i.discriminator !== undefined) {
      const key = String(i.discriminator);
      out.push({
        path: path[path.length - 1] === key ? path : [...path, key],
        message: `must be one of: tun, tap, vxlan, memory`,
      });
      continue;
    }
    let message = i.message;
    if (i.code === "invalid_type" && /received undefined/.test(message)) message = "is required";
    out.push({ path, message });
  }
  return out;
}

// ---- router sections ---------------------------------------------------------------

/**
 * Turns one error of `parseRouterConfig` ("a.0.b: message", or a structured
 * value with a path) into an issue under `base`.
 */
export function routerIssue(error: unknown, base: (string | number)[]): ConfigIssue {
  let pathText = "";
  let message = String(error);
  if (typeof error === "string") {
    const at = error.indexOf(": ");
    if (at > 0 && !/\s/.test(error.slice(0, at))) {
      pathText = error.slice(0, at);
      message = error.slice(at + 2);
    }
  } else if (typeof error === "object" && error !== null && "message" in error) {
    message = String((error as { message: unknown }).message);
    const p = (error as { path?: unknown }).path;
    if (Array.isArray(p)) pathText = p.join(".");
    else if (typeof p === "string") pathText = p;
  }
  if (pathText === "(router)") pathText = "";
  const path: (string | number)[] = [...base];
  for (const seg of pathText.split(".").filter((s) => s !== "")) {
    path.push(/^\d+$/.test(seg) ? Number(seg) : seg);
  }
  const unknown = /^Unrecognized keys?: "([^"]+)"/.exec(message);
  if (unknown !== null) {
    return { path: [...path, unknown[1]], message: `unknown field '${unknown[1]}'`, atKey: true };
  }
  if (/received undefined/.test(message)) message = "is required";
  return { path, message };
}

/**
 * Checks one router section (the router's own keys, plus `link` on each
 * interface): answers the router config and its bindings, or issues whose
 * paths start at the section.
 */
export function checkRouterSection(
  input: unknown,
): { ok: true; router: DaemonRouterConfig } | { ok: false; issues: ConfigIssue[] } {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return {
      ok: false,
      issues: [{ path: [], message: "a router is a mapping (name, interfaces, ...)" }],
    };
  }
  const section: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  const links: (string | undefined)[] = [];
  const issues: ConfigIssue[] = [];
  if (Array.isArray(section.interfaces)) {
    section.interfaces = section.interfaces.map((ifc: unknown, i: number) => {
      if (typeof ifc !== "object" || ifc === null || Array.isArray(ifc)) return ifc;
      const { link, ...rest } = ifc as Record<string, unknown>;
      if (link !== undefined && (typeof link !== "string" || !NAME.test(link))) {
        issues.push({ path: ["interfaces", i, "link"], message: `a link name (${NAME_HINT})` });
      }
      links[i] = typeof link === "string" ? link : undefined;
      return rest;
    });
  }
  const parsed = parseRouterConfig(section);
  if (!parsed.ok) {
    for (const e of parsed.errors) issues.push(routerIssue(e, []));
    return { ok: false, issues };
  }
  if (issues.length > 0) return { ok: false, issues };
  const router = parsed.config;
  const bindings: BindingConfig[] = [];
  router.interfaces.forEach((ifc, i) => {
    const link = links[i];
    if (link !== undefined) bindings.push({ interface: ifc.name, ifIndex: i, link });
  });
  return { ok: true, router: { name: router.name, router, section, bindings } };
}

// ---- the whole file ----------------------------------------------------------------

/** Checks a configuration already read from YAML (plain data); issues carry paths. */
export function checkConfigData(
  data: unknown,
  file: string,
): { ok: true; config: DaemonConfig } | { ok: false; issues: ConfigIssue[] } {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return {
      ok: false,
      issues: [
        { path: [], message: "the configuration is a mapping (hypervisor, links, routers, ...)" },
      ],
    };
  }
  const top = topSchema.safeParse(data);
  if (!top.success) return { ok: false, issues: zodIssues(top.error) };
  const raw = top.data;
  const issues: ConfigIssue[] = [];
  const baseDir = file === "" ? process.cwd() : dirname(file);

  // hypervisor
  const h = raw.hypervisor;
  let hvName = h.name;
  if (hvName === undefined) {
    const host = hostname().split(".")[0];
    if (NAME.test(host)) hvName = host;
    else {
      issues.push({
        path: ["hypervisor", "name"],
        message: `the host name '${host}' is not a valid name: set hypervisor.name`,
      });
      hvName = "";
    }
  }
  const hypervisor: HypervisorSection = {
    name: hvName,
    stateDir: resolve(baseDir, h.stateDir),
    arenaMiB: h.arenaMiB,
    api: {
      socket: resolve(baseDir, h.api.socket),
      ...(h.api.tcp === undefined
        ? {}
        : {
            tcp: {
              listen: h.api.tcp.listen ?? (parseListen(DEFAULT_TCP_LISTEN) as ListenAddress),
              tokenFile: resolve(baseDir, h.api.tcp.tokenFile),
            },
          }),
    },
    log: h.log,
    ...(h.metrics === undefined ? {} : { metrics: h.metrics }),
  };
  const vxlanListen = raw.vxlan?.listen ?? (parseListen(DEFAULT_VXLAN_LISTEN) as ListenAddress);
  const underlay = isIP(vxlanListen.host) === 6 ? 6 : 4;
  if (vxlanListen.host === "localhost") {
    issues.push({ path: ["vxlan", "listen"], message: "give an IP address, not a host name" });
  }

  // links
  const links: LinkConfig[] = [];
  const linkByName = new Map<string, LinkConfig>();
  const devices = new Map<string, number>();
  const vnis = new Map<number, number>();
  const peers = new Set<string>();
  raw.links.forEach((input, i) => {
    const r = linkSchema.safeParse(input);
    if (!r.success) {
      issues.push(...zodIssues(r.error, ["links", i]));
      return;
    }
    const l = r.data;
    const at = ["links", i];
    if (linkByName.has(l.name) || peers.has(l.name)) {
      issues.push({ path: [...at, "name"], message: `duplicate link name '${l.name}'` });
      return;
    }
    let link: LinkConfig;
    switch (l.kind) {
      case "tun":
      case "tap": {
        const dev = l.device ?? l.name;
        if (!DEVICE.test(dev)) {
          issues.push({
            path: [...at, l.device === undefined ? "name" : "device"],
            message: `'${dev}' is not a device name (${DEVICE_HINT}); set 'device'`,
          });
          return;
        }
        const other = devices.get(dev);
        if (other !== undefined) {
          issues.push({
            path: [...at, l.device === undefined ? "name" : "device"],
            message: `device '${dev}' is already used by links.${other}`,
          });
          return;
        }
        devices.set(dev, i);
        if (l.kind === "tun") {
          link = { name: l.name, kind: "tun", device: dev };
          if (l.mtu !== undefined) link.mtu = l.mtu;
          if (l.txQueueLen !== undefined) link.txQueueLen = l.txQueueLen;
        } else {
          link = { name: l.name, kind: "tap", device: dev };
          if (l.mtu !== undefined) link.mtu = l.mtu;
          if (l.txQueueLen !== undefined) link.txQueueLen = l.txQueueLen;
          if (l.mac !== undefined) {
            const mac = parseMac(l.mac);
            if (mac === undefined || Math.floor(mac / 2 ** 40) % 2 === 1) {
              issues.push({
                path: [...at, "mac"],
                message: `'${l.mac}' is not a unicast MAC address`,
              });
              return;
            }
            link.mac = mac;
          }
        }
        break;
      }
      case "vxlan": {
        const other = vnis.get(l.vni);
        if (other !== undefined) {
          issues.push({
            path: [...at, "vni"],
            message: `VNI ${l.vni} is already used by links.${other}`,
          });
          return;
        }
        vnis.set(l.vni, i);
        let bad = false;
        l.remotes.forEach((addr, k) => {
          const fam = isIP(addr);
          if (fam === 0) {
            issues.push({ path: [...at, "remotes", k], message: `'${addr}' is not an IP address` });
            bad = true;
          } else if (fam !== underlay) {
            issues.push({
              path: [...at, "remotes", k],
              message: `'${addr}' is IPv${fam} but the VXLAN endpoint (vxlan.listen) is IPv${underlay}`,
            });
            bad = true;
          }
        });
        if (bad) return;
        link = {
          name: l.name,
          kind: "vxlan",
          vni: l.vni,
          remotes: l.remotes,
          remotePort: l.remotePort,
          learning: l.learning,
        };
        if (l.ageMs !== undefined) link.ageMs = l.ageMs;
        if (l.maxLearned !== undefined) link.maxLearned = l.maxLearned;
        break;
      }
      case "memory": {
        const peer = l.peer ?? `${l.name}-peer`;
        if (peer === l.name || linkByName.has(peer) || peers.has(peer)) {
          issues.push({ path: [...at, "peer"], message: `peer name '${peer}' is already taken` });
          return;
        }
        peers.add(peer);
        link = { name: l.name, kind: "memory", layer: l.layer, peer };
        break;
      }
    }
    links.push(link);
    linkByName.set(link.name, link);
  });
  for (let i = 0; i < links.length; i++) {
    if (peers.has(links[i].name) && links[i].kind !== "memory") {
      const idx = raw.links.findIndex((l) => (l as { name?: unknown }).name === links[i].name);
      issues.push({
        path: ["links", idx, "name"],
        message: `'${links[i].name}' is the peer name of a memory link`,
      });
    }
  }

  // routers and their bindings
  const routers: DaemonRouterConfig[] = [];
  const routerIndex = new Map<string, number>();
  const linkUser = new Map<string, string>();
  raw.routers.forEach((input, i) => {
    const r = checkRouterSection(input);
    if (!r.ok) {
      for (const issue of r.issues) issues.push({ ...issue, path: ["routers", i, ...issue.path] });
      return;
    }
    const vr = r.router;
    if (routerIndex.has(vr.name)) {
      issues.push({
        path: ["routers", i, "name"],
        message: `duplicate router name '${vr.name}' (also routers.${routerIndex.get(vr.name)})`,
      });
      return;
    }
    routerIndex.set(vr.name, i);
    for (const b of vr.bindings) {
      const at = ["routers", i, "interfaces", b.ifIndex, "link"];
      const problem = bindingProblem(vr, b, linkByName, linkUser);
      if (problem !== undefined) issues.push({ path: at, message: problem });
      else linkUser.set(b.link, `${vr.name}/${b.interface}`);
    }
    routers.push(vr);
  });

  // switching
  const switching: SwitchRuleConfig[] = [];
  const ruleFrom = new Map<string, number>();
  raw.switching.forEach((rule, i) => {
    const at = ["switching", i];
    const from = linkByName.get(rule.from);
    const to = linkByName.get(rule.to);
    if (from === undefined) {
      issues.push({ path: [...at, "from"], message: `no link '${rule.from}'` });
      return;
    }
    if (to === undefined) {
      issues.push({ path: [...at, "to"], message: `no link '${rule.to}'` });
      return;
    }
    if (rule.from === rule.to) {
      issues.push({ path: [...at, "to"], message: "a link cannot be switched to itself" });
      return;
    }
    if (linkLayer(from) !== linkLayer(to)) {
      issues.push({
        path: [...at, "to"],
        message: `${rule.from} is ${linkLayer(from).toUpperCase()} but ${rule.to} is ${linkLayer(to).toUpperCase()}`,
      });
      return;
    }
    const other = ruleFrom.get(rule.from);
    if (other !== undefined) {
      issues.push({
        path: [...at, "from"],
        message: `a rule already leaves ${rule.from} (switching.${other})`,
      });
      return;
    }
    ruleFrom.set(rule.from, i);
    switching.push({ from: rule.from, to: rule.to });
  });

  // migration
  let migration: MigrationSection | undefined;
  if (raw.migration !== undefined) {
    const m = raw.migration;
    const seen = new Map<string, number>();
    const peers: MigrationPeerConfig[] = [];
    m.peers.forEach((p, i) => {
      const at = ["migration", "peers", i];
      if (p.name === hvName) {
        issues.push({
          path: [...at, "name"],
          message: `'${p.name}' is this hypervisor's own name`,
        });
      }
      const other = seen.get(p.name);
      if (other !== undefined) {
        issues.push({
          path: [...at, "name"],
          message: `duplicate peer '${p.name}' (migration.peers.${other})`,
        });
      }
      seen.set(p.name, i);
      if (p.fingerprint !== undefined && m.certificate === undefined) {
        issues.push({
          path: [...at, "fingerprint"],
          message: `peer '${p.name}' authenticates by certificate, so this hypervisor needs one (migration.certificate)`,
        });
      }
      const vtepHost = p.vtep ?? p.address.host;
      if (isIP(vtepHost) === 0) {
        issues.push({
          path: [...at, p.vtep === undefined ? "address" : "vtep"],
          message: `the peer's VXLAN endpoint must be an IP address, not '${vtepHost}'`,
        });
      }
      peers.push({
        name: p.name,
        address: p.address,
        vtep: { host: vtepHost, port: p.vxlanPort },
        ...(p.psk === undefined ? {} : { psk: p.psk }),
        ...(p.fingerprint === undefined ? {} : { fingerprint: p.fingerprint }),
      });
    });
    for (const [router, ifaces] of Object.entries(m.segments)) {
      for (const [iface, seg] of Object.entries(ifaces)) {
        seg.remotes.forEach((r, j) => {
          if (isIP(r) === 0) {
            issues.push({
              path: ["migration", "segments", router, iface, "remotes", j],
              message: `'${r}' is not an IP address`,
            });
          }
        });
      }
    }
    migration = {
      listen: m.listen ?? (parseListen(DEFAULT_MIGRATION_LISTEN) as ListenAddress),
      tunnel: { listen: m.tunnel?.listen ?? (parseListen(DEFAULT_TUNNEL_LISTEN) as ListenAddress) },
      ...(m.certificate === undefined
        ? {}
        : {
            certificate: {
              cert: resolve(baseDir, m.certificate.cert),
              key: resolve(baseDir, m.certificate.key),
            },
          }),
      peers,
      segments: m.segments,
      ...(m.rehome === undefined ? {} : { rehome: m.rehome }),
      handshakeTimeoutMs: m.handshakeTimeoutMs,
      ...(m.maxRouters === undefined ? {} : { maxRouters: m.maxRouters }),
    };
  }

  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    config: {
      file,
      hypervisor,
      vxlan: { listen: vxlanListen },
      links,
      routers,
      switching,
      ...(migration === undefined ? {} : { migration }),
    },
  };
}

/** The layer of a configured link. */
export function linkLayer(link: LinkConfig): "l2" | "l3" {
  switch (link.kind) {
    case "tun":
      return "l3";
    case "tap":
    case "vxlan":
      return "l2";
    case "memory":
      return link.layer;
  }
}

/** Why a binding cannot be made (unknown link, layer, link taken), or undefined. */
export function bindingProblem(
  router: DaemonRouterConfig,
  b: BindingConfig,
  links: ReadonlyMap<string, LinkConfig>,
  taken: ReadonlyMap<string, string>,
): string | undefined {
  const link = links.get(b.link);
  if (link === undefined) return `no link '${b.link}'`;
  const ifLayer = router.router.interfaces[b.ifIndex].layer;
  if (linkLayer(link) !== ifLayer) {
    return `interface ${b.interface} is ${ifLayer.toUpperCase()} but link ${b.link} (${link.kind}) is ${linkLayer(link).toUpperCase()}`;
  }
  const user = taken.get(b.link);
  if (user !== undefined) return `link ${b.link} already carries ${user}`;
  return undefined;
}

// ---- locating issues in the YAML text ------------------------------------------------

/**
 * The node an issue points at: the deepest node of its path that exists
 * (a missing field points at the mapping that lacks it), or the key of the
 * last element when `atKey`.
 */
function locate(doc: YamlDocument, issue: ConfigIssue): YamlNode | undefined {
  let node: unknown = doc.contents;
  let found: YamlNode | undefined = (doc.contents as YamlNode | null) ?? undefined;
  for (let k = 0; k < issue.path.length; k++) {
    const seg = issue.path[k];
    const last = k === issue.path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined || !isPair(pair)) break;
      if (last && issue.atKey) return pair.key as YamlNode;
      node = pair.value;
      // An empty value (`mtu:`) has no node: point at its key.
      found = ((pair.value as YamlNode | null) ?? (pair.key as YamlNode)) as YamlNode;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg];
      if (item === undefined || item === null) break;
      node = item;
      found = item as YamlNode;
    } else break;
  }
  return found;
}

function located(
  doc: YamlDocument,
  lines: LineCounter,
  file: string,
  issue: ConfigIssue,
): ConfigError {
  const node = locate(doc, issue);
  const offset = node?.range?.[0] ?? 0;
  const { line, col } = lines.linePos(offset);
  return new ConfigError(file, line, col, issue.path.join("."), issue.message);
}

/**
 * Parses YAML text into a document and plain data, or answers its syntax
 * errors located. `what` names the expected content in messages.
 */
export function parseYaml(
  text: string,
  file: string,
  what: string,
):
  | { ok: true; data: unknown; locate: (issue: ConfigIssue) => ConfigError }
  | { ok: false; errors: ConfigError[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return new ConfigError(file, line, col, "", yamlMessage(e.message));
      }),
    };
  }
  if (doc.contents === null) {
    return {
      ok: false,
      errors: [new ConfigError(file, 1, 1, "", `the file is empty (expected ${what})`)],
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return {
      ok: false,
      errors: [
        new ConfigError(file, 1, 1, "", `cannot read the document: ${(e as Error).message}`),
      ],
    };
  }
  return { ok: true, data, locate: (issue) => located(doc, lines, file, issue) };
}

/** The first line of a yaml package message, without its own position suffix. */
function yamlMessage(message: string): string {
  return message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
}

/** Checks configuration text; `file` is used in errors and to resolve relative paths. */
export function parseConfigText(text: string, file: string): ConfigResult {
  const y = parseYaml(text, file, "a vroomd configuration");
  if (!y.ok) return y;
  const r = checkConfigData(y.data, file === "" ? "" : resolve(file));
  if (r.ok) {
    Object.defineProperty(r.config, "locate", { value: y.locate, enumerable: false });
    return r;
  }
  return { ok: false, errors: sortErrors(r.issues.map(y.locate)) };
}

/** Reads and checks a configuration file. */
export async function loadConfigFile(path: string): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : (err.code ?? err.message);
    return { ok: false, errors: [new ConfigError(path, 0, 0, "", `cannot read the file: ${why}`)] };
  }
  return parseConfigText(text, path);
}

/**
 * Reads one router section from YAML text (what `vroomctl router create -f`
 * sends): answers it as plain data, or its problems located in the text.
 */
export function parseRouterText(
  text: string,
  file: string,
): { ok: true; data: unknown; router: DaemonRouterConfig } | { ok: false; errors: ConfigError[] } {
  const y = parseYaml(text, file, "a router (name, interfaces, ...)");
  if (!y.ok) return y;
  const r = checkRouterSection(y.data);
  if (r.ok) return { ok: true, data: y.data, router: r.router };
  return { ok: false, errors: sortErrors(r.issues.map(y.locate)) };
}

function sortErrors(errors: ConfigError[]): ConfigError[] {
  return errors.sort((a, b) => a.line - b.line || a.column - b.column);
}
