/**
 * The hosts file of `vroomctl plan apply`: for each host of the planner's
 * network, the vroomd that runs on it (its management API: a Unix socket,
 * or an http:// URL with the file holding its token) and the name that
 * daemon's migration peers know it by (its `hypervisor.name`, as listed in
 * their `migration.peers`). YAML or JSON:
 *
 *   hosts:
 *     nycm-1: { api: /run/vroom/vroomd.sock, peer: nycm-1 }
 *     chin-1: { api: "http://198.18.0.7:7179", tokenFile: chin-1.token, peer: chin-1 }
 *
 * Relative paths are taken from the file's directory. Checked with zod;
 * every problem names the host and the field, and nothing here throws on
 * bad input. Two hosts may not share a daemon or a peer name: a router
 * found through both would seem to run twice.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { Network } from "../../migration/planner/network.ts";

const hostSchema = z
  .object({
    api: z.string().min(1, "a Unix socket path or an http:// URL"),
    peer: z.string().min(1, "the daemon's name among its migration peers"),
    tokenFile: z.string().min(1).optional(),
  })
  .strict();

const fileSchema = z.object({ hosts: z.record(z.string(), hostSchema) }).strict();

/** Where one planner host's daemon answers. */
export interface HostApi {
  host: string;
  /** A socket, or a URL with the token file to read (./client.ts `ApiClient.connect`). */
  api: { socket: string } | { url: string; tokenFile: string };
  peer: string;
}

export type HostsResult = { ok: true; hosts: HostApi[] } | { ok: false; errors: string[] };

/** Checks the text of a hosts file; `source` prefixes the messages, `baseDir` anchors relative paths. */
export function parseHostsFile(text: string, source: string, baseDir: string): HostsResult {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (e) {
    return { ok: false, errors: [`${source}: not YAML or JSON: ${(e as Error).message}`] };
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success)
    return {
      ok: false,
      errors: parsed.error.issues.map((issue) => {
        const message =
          issue.code === "unrecognized_keys"
            ? `unknown field(s) ${issue.keys.join(", ")}`
            : issue.message;
        const at = issue.path.map(String).join(".");
        return `${source}: ${at === "" ? "" : `${at}: `}${message}`;
      }),
    };
  const errors: string[] = [];
  const hosts: HostApi[] = [];
  const byApi = new Map<string, string>();
  const byPeer = new Map<string, string>();
  for (const [host, entry] of Object.entries(parsed.data.hosts)) {
    const at = `${source}: hosts.${host}`;
    let api: HostApi["api"];
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry.api)) {
      let url: URL | undefined;
      try {
        url = new URL(entry.api);
      } catch {
        errors.push(`${at}.api: '${entry.api}' is not a URL`);
        continue;
      }
      if (url.protocol !== "http:") {
        errors.push(`${at}.api: vroomd serves http://, not ${url.protocol}`);
        continue;
      }
      if (entry.tokenFile === undefined) {
        errors.push(`${at}.tokenFile: needed with an http:// API (the TCP API requires a token)`);
        continue;
      }
      api = {
        url: url.toString().replace(/\/$/, ""),
        tokenFile: resolve(baseDir, entry.tokenFile),
      };
    } else {
      if (entry.tokenFile !== undefined) {
        errors.push(`${at}.tokenFile: only for an http:// API, not a Unix socket`);
        continue;
      }
      api = { socket: resolve(baseDir, entry.api) };
    }
    const where = "socket" in api ? api.socket : api.url;
    const sameApi = byApi.get(where);
    if (sameApi !== undefined)
      errors.push(`${at}.api: the same daemon as host ${sameApi} (${where})`);
    byApi.set(where, host);
    const samePeer = byPeer.get(entry.peer);
    if (samePeer !== undefined)
      errors.push(`${at}.peer: '${entry.peer}' is already host ${samePeer}'s peer name`);
    byPeer.set(entry.peer, host);
    hosts.push({ host, api, peer: entry.peer });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, hosts };
}

/** Reads and checks a hosts file. */
export function loadHostsFile(path: string): HostsResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return {
      ok: false,
      errors: [`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`],
    };
  }
  return parseHostsFile(text, path, dirname(resolve(path)));
}

/**
 * Problems with a hosts file for a run on `net` that needs the hosts
 * `needed`: entries for hosts the network does not have, and needed hosts
 * without an entry.
 */
export function hostsFileProblems(
  net: Network,
  hosts: readonly HostApi[],
  needed: Iterable<string>,
  source: string,
): string[] {
  const problems: string[] = [];
  const known = new Set(hosts.map((h) => h.host));
  for (const h of hosts)
    if (!net.hostIndex.has(h.host))
      problems.push(`${source}: hosts.${h.host}: network ${net.name} has no host ${h.host}`);
  const missing = [...new Set(needed)].filter((h) => !known.has(h)).sort();
  if (missing.length > 0)
    problems.push(
      `${source}: no entry for host(s) ${missing.join(", ")}, which the plan needs (hosts.<name>: {api, peer})`,
    );
  return problems;
}

/** The client endpoint of a host's API (the token file is read by `ApiClient.connect`). */
export function connectOptions(api: HostApi["api"]): {
  socket?: string;
  url?: string;
  tokenFile?: string;
} {
  return "socket" in api ? { socket: api.socket } : { url: api.url, tokenFile: api.tokenFile };
}
