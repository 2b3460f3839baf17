/**
 * What the daemon and vroomctl tests share: a temporary directory per test
 * (removed afterwards), vroomd configurations over in-memory links (no root
 * needed), a daemon started in-process on a Unix socket in that directory,
 * raw HTTP requests to it, and packets pushed through a memory link's far
 * end and collected from another's.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { MemoryLink } from "../../hypervisor/links/memory.ts";
import { runVroomctl } from "../../tools/vroomctl/cli.ts";
import { parseConfigText } from "../../tools/vroomd/config.ts";
import { Daemon } from "../../tools/vroomd/daemon.ts";
import { createLogger, type Logger } from "../../tools/vroomd/logging.ts";
import { batchOf, ipv4Packet } from "../router/packets.ts";

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), "vroomd-test-"));
  file(name: string, text: string, mode = 0o644): string {
    const p = join(this.path, name);
    writeFileSync(p, text, { mode });
    return p;
  }
  join(...parts: string[]): string {
    return join(this.path, ...parts);
  }
  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** A two-interface router between memory links m0 and m1, plus a spare l3 link m2. */
export function baseConfig(extra = ""): string {
  return `hypervisor:
  name: test-hv
  stateDir: ./state
  api: { socket: ./vroomd.sock }
  log: { level: info }
links:
  - { name: m0, kind: memory, layer: l3 }
  - { name: m1, kind: memory, layer: l3 }
  - { name: m2, kind: memory, layer: l3 }
  - { name: e0, kind: memory, layer: l2 }
routers:
  - name: vr1
    interfaces:
      - { name: eth0, layer: l3, addresses: ["198.18.10.1/24"], link: m0 }
      - { name: eth1, layer: l3, addresses: ["198.18.11.1/24"], link: m1 }
    staticRoutes:
      - { prefix: 198.18.100.0/24, via: 198.18.11.2 }
${extra}`;
}

/** Log lines a test can read. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly logger: Logger;
  constructor(level: "info" | "debug" = "info") {
    const stream = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        for (const line of chunk.toString().split("\n"))
          if (line) this.lines.push(JSON.parse(line));
        done();
      },
    });
    this.logger = createLogger({ level, format: "json", destination: stream });
  }
  messages(): string[] {
    return this.lines.map((l) => String(l.msg));
  }
}

export interface Started {
  daemon: Daemon;
  file: string;
  logs: LogCapture;
}

/** Writes `text` as vroomd.yaml in `dir` and starts a daemon on it. */
export async function startDaemon(
  dir: TempDir,
  text: string,
  file = "vroomd.yaml",
  level: "info" | "debug" = "info",
): Promise<Started> {
  const path = dir.file(file, text);
  const parsed = parseConfigText(text, path);
  if (!parsed.ok) throw new Error(parsed.errors.map(String).join("\n"));
  const logs = new LogCapture(level);
  const daemon = await Daemon.start({ config: parsed.config, logger: logs.logger });
  return { daemon, file: path, logs };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers freely
  json: any;
}

/** One HTTP request to a Unix socket or a TCP address. */
export function http(
  where: { socket: string } | { host: string; port: number },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const payload =
    body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const h: Record<string, string> = { ...headers };
  if (payload !== undefined) {
    h["content-type"] ??= "application/json";
    h["content-length"] = String(Buffer.byteLength(payload));
  }
  const target =
    "socket" in where ? { socketPath: where.socket } : { host: where.host, port: where.port };
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, path, headers: h }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Collects copies of what arrives at the far end of memory link `link`. */
export function collect(daemon: Daemon, link: string): Uint8Array[] {
  const peer = daemon.memoryPeer(link);
  if (peer === undefined) throw new Error(`no memory link ${link}`);
  const got: Uint8Array[] = [];
  peer.onReceive((batch) => {
    for (let i = 0; i < batch.count; i++) {
      const s = batch.start(i);
      got.push(batch.arena.slice(s, s + batch.lengths[i]));
    }
  });
  return got;
}

/** Sends IPv4 echo requests into the daemon through the far end of memory link `link`. */
export function inject(
  daemon: Daemon,
  link: string,
  count: number,
  src: string,
  dst: string,
): void {
  const peer: MemoryLink | undefined = daemon.memoryPeer(link);
  if (peer === undefined) throw new Error(`no memory link ${link}`);
  const arena = daemon.hypervisor.arena;
  const packets = Array.from({ length: count }, (_, i) => ipv4Packet({ src, dst, id: i + 1 }));
  const batch = batchOf(arena, packets);
  peer.send(batch);
  arena.release(batch);
}

/** Lets queued microtasks and timers run (memory links deliver on a microtask). */
export const settle = (ms = 5) => new Promise((r) => setTimeout(r, ms));

/**
 * Two BGP routers over memory links: vr1 (AS 65001, on `wa`) opens the
 * session to vr2 (AS 65002, on `wb`, passive) and redistributes its static
 * routes tagged with MED 50, a community and a large community; vr2
 * redistributes its own; `plain` has no BGP. `which` writes one of them
 * alone (with its link), for a daemon each; `vr1Extra` adds static route
 * lines to vr1. Join the far ends with `joinMemoryLinks`.
 */
export function bgpConfig(
  o: { which?: "both" | "vr1" | "vr2"; vr1Extra?: string; name?: string } = {},
): string {
  const which = o.which ?? "both";
  const vr1 = `  - name: vr1
    interfaces:
      - { name: eth0, layer: l3, addresses: ["198.18.50.1/24", "2001:db8:50::1/64"], link: wa }
    staticRoutes:
      - { prefix: 198.18.60.0/24, action: blackhole }
      - { prefix: "2001:db8:60::/48", action: blackhole }
${o.vr1Extra ?? ""}    bgp:
      asn: 65001
      connectRetryTime: 1
      idleHoldTime: 1
      policies:
        tag:
          terms:
            - set:
                med: 50
                communities: { add: ["65001:100"] }
                largeCommunities: { add: ["65001:1:2"] }
              action: accept
      redistribute: [{ source: static }]
      neighbors:
        - { address: 198.18.50.2, asn: 65002, description: to vr2, import: accept, export: tag }
`;
  const vr2 = `  - name: vr2
    interfaces:
      - { name: eth0, layer: l3, addresses: ["198.18.50.2/24", "2001:db8:50::2/64"], link: wb }
    staticRoutes:
      - { prefix: 198.18.70.0/24, action: blackhole }
    bgp:
      asn: 65002
      idleHoldTime: 1
      redistribute: [{ source: static }]
      neighbors:
        - { address: 198.18.50.1, asn: 65001, passive: true, import: accept, export: accept }
`;
  const links = [
    which !== "vr2" ? "  - { name: wa, kind: memory, layer: l3 }\n" : "",
    which !== "vr1" ? "  - { name: wb, kind: memory, layer: l3 }\n" : "",
  ].join("");
  const plain =
    which === "both"
      ? `  - name: plain
    interfaces:
      - { name: eth0, layer: l3, addresses: ["198.18.90.1/24"] }
`
      : "";
  return `hypervisor:
  name: ${o.name ?? "bgp-hv"}
  stateDir: ./state-${which}
  api: { socket: ./vroomd-${which}.sock }
links:
${links}routers:
${which !== "vr2" ? vr1 : ""}${which !== "vr1" ? vr2 : ""}${plain}`;
}

/** Joins the far ends of two memory links (of one daemon or two): a wire between them. */
export function joinMemoryLinks(a: Daemon, linkA: string, b: Daemon, linkB: string): void {
  const pa = a.memoryPeer(linkA);
  const pb = b.memoryPeer(linkB);
  if (pa === undefined || pb === undefined) throw new Error(`no memory link ${linkA} or ${linkB}`);
  pa.onReceive((batch) => {
    pb.send(batch);
  });
  pb.onReceive((batch) => {
    pa.send(batch);
  });
}

/** Waits until `cond` holds (polling every 10 ms), or fails after `ms`. */
export async function waitUntil(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await settle(10);
  }
}

/** Runs vroomctl with `argv` in this process; answers its exit status and what it printed. */
export async function vroomctl(
  argv: string[],
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runVroomctl(argv, {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}
