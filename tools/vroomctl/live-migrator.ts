/**
 * The planner's `Migrator` (migration/planner/apply.ts) over live vroomd
 * daemons: what `vroomctl plan apply --hosts FILE` carries plans out with.
 *
 * - Placement: every daemon of a powered host is asked which routers it
 *   runs (`GET /v1/routers`); a router listed by two daemons stops the run
 *   (the executor reports the placement unreadable) rather than being
 *   guessed at, and so does a daemon that does not answer.
 * - Migration: the daemon that runs the router now is asked to move it to
 *   the target host's peer name; the migration is followed to its end
 *   (./migration-client.ts) and the step succeeds only when the router
 *   moved, and the source no longer lists it. A refusal, a roll-back or a
 *   reclaim fails the step with vroomd's own words. An abort before the
 *   request starts nothing; the API cannot cancel a migration once
 *   started, so one in flight is followed to its end (a migration ends by
 *   itself: it commits or rolls back) and the executor stops after it.
 * - Power: vroomd cannot power hosts. Only with a power command is
 *   `setHostPower` offered: the command runs as `CMD on|off HOST` (through
 *   /bin/sh, the host as a separate argument), its exit status decides, and
 *   after powering a host on the migrator waits for its daemon to answer.
 *   The daemons of hosts powered off are not asked for their routers.
 */
import { spawn } from "node:child_process";
import type { MigrationOutcome, Migrator } from "../../migration/planner/apply.ts";
import { type ApiClient, ClientError } from "./client.ts";
import { moved, notMovedReason, runMigration } from "./migration-client.ts";

export interface LiveHost {
  /** The planner's name of the host. */
  name: string;
  client: ApiClient;
  /** The daemon's name among its migration peers. */
  peer: string;
}

export interface LiveMigratorOptions {
  hosts: readonly LiveHost[];
  /** Runs as `CMD on|off HOST`; without it the migrator cannot power hosts. */
  powerCommand?: string;
  /** Hosts powered off when the run starts. */
  hostsOff?: Iterable<string>;
  /** How long a source may take to let a moved router go (ms, default 5,000). */
  releaseMs?: number;
  /** How long a powered-on host's daemon may take to answer (ms, default 300,000). */
  bootMs?: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class LiveMigrator implements Migrator {
  readonly setHostPower?: (
    host: string,
    on: boolean,
    signal: AbortSignal,
  ) => Promise<MigrationOutcome>;
  readonly #hosts: Map<string, LiveHost>;
  readonly #off: Set<string>;
  readonly #releaseMs: number;
  readonly #bootMs: number;

  constructor(options: LiveMigratorOptions) {
    this.#hosts = new Map(options.hosts.map((h) => [h.name, h]));
    this.#off = new Set(options.hostsOff ?? []);
    this.#releaseMs = options.releaseMs ?? 5_000;
    this.#bootMs = options.bootMs ?? 300_000;
    const command = options.powerCommand;
    if (command !== undefined)
      this.setHostPower = (host, on, signal) => this.#power(command, host, on, signal);
  }

  async placement(signal: AbortSignal): Promise<ReadonlyMap<string, string>> {
    if (signal.aborted) throw new Error("aborted");
    const asked = [...this.#hosts.values()].filter((h) => !this.#off.has(h.name));
    const lists = await Promise.all(
      asked.map(async (h) => {
        try {
          const r = await h.client.get<{ routers: { name: string }[] }>("/v1/routers");
          return r.routers.map((x) => x.name);
        } catch (e) {
          throw new Error(`host ${h.name} (${h.client.where}): ${message(e)}`);
        }
      }),
    );
    const where = new Map<string, string>();
    asked.forEach((h, i) => {
      for (const router of lists[i]) {
        const other = where.get(router);
        if (other !== undefined)
          throw new Error(
            `router ${router} runs on both ${other} and ${h.name}: refusing to guess where it is`,
          );
        where.set(router, h.name);
      }
    });
    return where;
  }

  async migrate(router: string, toHost: string, signal: AbortSignal): Promise<MigrationOutcome> {
    if (signal.aborted) return { ok: false, error: "aborted before the migration started" };
    const target = this.#hosts.get(toHost);
    if (target === undefined) return { ok: false, error: `no API for host ${toHost}` };
    let from: string | undefined;
    try {
      from = (await this.placement(signal)).get(router);
    } catch (e) {
      return { ok: false, error: `cannot find ${router}: ${message(e)}` };
    }
    if (from === undefined)
      return { ok: false, error: `router ${router} runs on none of the hosts' daemons` };
    if (from === toHost) return { ok: true };
    const source = this.#hosts.get(from)!;
    let view: Awaited<ReturnType<typeof runMigration>>;
    try {
      view = await runMigration(source.client, router, target.peer, { signal });
    } catch (e) {
      return { ok: false, error: message(e) };
    }
    if (!moved(view))
      return { ok: false, error: `${router} not moved to ${toHost}: ${notMovedReason(view)}` };
    return this.#released(source, router);
  }

  /** Waits until the source no longer lists a router that moved away. */
  async #released(source: LiveHost, router: string): Promise<MigrationOutcome> {
    const end = Date.now() + this.#releaseMs;
    for (;;) {
      try {
        await source.client.get(`/v1/routers/${encodeURIComponent(router)}`);
      } catch (e) {
        if (e instanceof ClientError && e.status === 404) return { ok: true };
        return {
          ok: false,
          error: `${router} moved, but ${source.name} then failed: ${message(e)}`,
        };
      }
      if (Date.now() > end)
        return {
          ok: false,
          error: `${router} moved, but ${source.name} still runs it after ${this.#releaseMs} ms`,
        };
      await sleep(20);
    }
  }

  async #power(
    command: string,
    host: string,
    on: boolean,
    signal: AbortSignal,
  ): Promise<MigrationOutcome> {
    if (signal.aborted) return { ok: false, error: "aborted before powering the host" };
    const ran = await run(command, [on ? "on" : "off", host], signal);
    if (!ran.ok) return ran;
    if (!on) {
      this.#off.add(host);
      return { ok: true };
    }
    this.#off.delete(host);
    const h = this.#hosts.get(host);
    if (h === undefined) return { ok: true };
    const end = Date.now() + this.#bootMs;
    for (;;) {
      try {
        await h.client.get("/v1/status");
        return { ok: true };
      } catch (e) {
        if (signal.aborted || Date.now() > end)
          return {
            ok: false,
            error: `host ${host} powered on, but its vroomd does not answer: ${message(e)}`,
          };
      }
      await sleep(1_000, signal);
    }
  }
}

/** Runs `command` through /bin/sh with `args` as its own arguments; its exit status decides. */
function run(command: string, args: string[], signal: AbortSignal): Promise<MigrationOutcome> {
  return new Promise((resolve) => {
    const child = spawn("/bin/sh", ["-c", `${command} "$@"`, "power", ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      signal,
    });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (c: string) => {
      stderr = (stderr + c).slice(-2000);
    });
    const what = `power command '${command} ${args.join(" ")}'`;
    child.on("error", (e) => resolve({ ok: false, error: `${what}: ${e.message}` }));
    child.on("close", (code, sig) => {
      if (code === 0) {
        resolve({ ok: true });
        return;
      }
      const last = stderr.trim().split("\n").pop() ?? "";
      const status = code === null ? `killed by ${sig}` : `exited ${code}`;
      resolve({ ok: false, error: `${what} ${status}${last === "" ? "" : `: ${last}`}` });
    });
  });
}
