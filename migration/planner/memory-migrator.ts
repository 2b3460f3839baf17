/**
 * A `Migrator` over an in-memory placement: what `vroomctl plan apply
 * --dry-run` runs a plan against, and what the executor's tests drive.
 * Failures can be injected per call, with the effect a real migration
 * failure can have: rolled back before commit (the router stays on its
 * source, the normal case), committed although the call reports an error
 * (the router is on its target), or lost track of (the router's location
 * cannot be read any more).
 */
import type { MigrationOutcome, Migrator } from "./apply.ts";

export type InjectedFailure = {
  error: string;
  effect: "rolled-back" | "committed" | "unreadable";
};

export type FailureRule = (call: {
  index: number;
  kind: "migrate" | "power";
  router?: string;
  host: string;
}) => InjectedFailure | null;

export class MemoryMigrator implements Migrator {
  readonly where: Map<string, string>;
  readonly powered: Map<string, boolean>;
  readonly calls: string[] = [];
  private unreadable = false;

  constructor(
    placement: Record<string, string> | ReadonlyMap<string, string>,
    private readonly hosts: readonly string[],
    private readonly failure: FailureRule = () => null,
    private readonly delayMs = 0,
  ) {
    this.where = new Map(placement instanceof Map ? placement : Object.entries(placement));
    this.powered = new Map(hosts.map((h) => [h, true]));
  }

  async placement(signal: AbortSignal): Promise<ReadonlyMap<string, string>> {
    if (signal.aborted) throw new Error("aborted");
    if (this.unreadable) throw new Error("the hypervisors do not answer");
    return new Map(this.where);
  }

  private async pause(signal: AbortSignal): Promise<boolean> {
    if (this.delayMs <= 0) return !signal.aborted;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(true), this.delayMs);
      signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve(false);
        },
        { once: true },
      );
    });
  }

  async migrate(router: string, toHost: string, signal: AbortSignal): Promise<MigrationOutcome> {
    const index = this.calls.length;
    this.calls.push(`migrate ${router} ${toHost}`);
    if (!this.where.has(router)) return { ok: false, error: `no router ${router}` };
    if (!this.hosts.includes(toHost)) return { ok: false, error: `no host ${toHost}` };
    if (this.powered.get(toHost) === false)
      return { ok: false, error: `host ${toHost} is powered down` };
    if (!(await this.pause(signal)))
      return { ok: false, error: "aborted; the migration rolled back" };
    const injected = this.failure({ index, kind: "migrate", router, host: toHost });
    if (injected) {
      if (injected.effect === "committed") this.where.set(router, toHost);
      if (injected.effect === "unreadable") this.unreadable = true;
      return { ok: false, error: injected.error };
    }
    this.where.set(router, toHost);
    return { ok: true };
  }

  async setHostPower(host: string, on: boolean, signal: AbortSignal): Promise<MigrationOutcome> {
    const index = this.calls.length;
    this.calls.push(`power ${on ? "on" : "off"} ${host}`);
    if (!this.hosts.includes(host)) return { ok: false, error: `no host ${host}` };
    if (!on && [...this.where.values()].includes(host))
      return { ok: false, error: `host ${host} still runs routers` };
    if (signal.aborted) return { ok: false, error: "aborted" };
    const injected = this.failure({ index, kind: "power", host });
    if (injected) {
      if (injected.effect === "committed") this.powered.set(host, on);
      if (injected.effect === "unreadable") this.unreadable = true;
      return { ok: false, error: injected.error };
    }
    this.powered.set(host, on);
    return { ok: true };
  }
}
