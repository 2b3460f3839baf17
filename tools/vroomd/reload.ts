/**
 * What a reload changes (SIGHUP, `vroomctl reload`): the difference between
 * the running configuration and a new one, as lists of links, routers,
 * bindings and switching rules to add, remove or replace, so the daemon
 * touches nothing that did not change. Starting is a reload from the empty
 * configuration.
 *
 * - A link whose settings changed is replaced (its device is recreated); the
 *   bindings and switching rules on it are taken down and put back.
 * - A router whose section changed is rebuilt; a router whose section is the
 *   same keeps running, its counters and neighbour caches untouched, and
 *   only its interfaces whose `link` changed are re-bound.
 * - Settings of the `hypervisor` and `vxlan` sections that live as long as
 *   the process (name, state directory, arena, listeners, log format, an
 *   open VXLAN endpoint's address) cannot change at run time: a reload that
 *   changes one is refused, naming the field. The log level and the API
 *   token file take effect at once.
 *
 * `Transaction` applies the steps in order and, when one throws, undoes
 * those done in reverse, so a refused reload leaves the old configuration
 * running as it was. Sections are compared through a canonical JSON form
 * (sorted keys; typed arrays, maps and sets as arrays).
 */
import type {
  BindingConfig,
  ConfigIssue,
  DaemonConfig,
  DaemonRouterConfig,
  LinkConfig,
  LogLevel,
  SwitchRuleConfig,
} from "./config.ts";

export interface BindingChange {
  router: string;
  ifIndex: number;
  interface: string;
  /** The link in the old configuration (undefined: unbound). */
  old?: string;
  /** The link in the new configuration (undefined: unbound). */
  next?: string;
}

export interface ConfigDiff {
  links: {
    added: LinkConfig[];
    removed: LinkConfig[];
    replaced: { old: LinkConfig; next: LinkConfig }[];
  };
  routers: {
    added: DaemonRouterConfig[];
    removed: DaemonRouterConfig[];
    /** Routers whose section changed; `fields`: its top-level keys that differ. */
    rebuilt: { old: DaemonRouterConfig; next: DaemonRouterConfig; fields: string[] }[];
    kept: { old: DaemonRouterConfig; next: DaemonRouterConfig }[];
  };
  /** Interfaces of kept routers whose `link` changed. */
  bindings: BindingChange[];
  switching: { added: SwitchRuleConfig[]; removed: SwitchRuleConfig[] };
  /** The new log level, when it changed. */
  logLevel?: LogLevel;
  tokenFileChanged: boolean;
  /** Changes that need a restart (the reload is refused). */
  restart: ConfigIssue[];
}

/** The configuration of a daemon with nothing in it (what start-up diffs against). */
export function emptyConfig(base: DaemonConfig): DaemonConfig {
  return { ...base, links: [], routers: [], switching: [] };
}

/**
 * The changes from `old` to `next`. `vxlanOpen`: whether the running
 * daemon has opened its VXLAN endpoint (its address is then fixed).
 */
export function diffConfigs(
  old: DaemonConfig,
  next: DaemonConfig,
  options: { vxlanOpen: boolean },
): ConfigDiff {
  const diff: ConfigDiff = {
    links: { added: [], removed: [], replaced: [] },
    routers: { added: [], removed: [], rebuilt: [], kept: [] },
    bindings: [],
    switching: { added: [], removed: [] },
    tokenFileChanged: false,
    restart: [],
  };

  // hypervisor and vxlan sections
  const ho = old.hypervisor;
  const hn = next.hypervisor;
  const fixed: [string[], unknown, unknown][] = [
    [["hypervisor", "name"], ho.name, hn.name],
    [["hypervisor", "stateDir"], ho.stateDir, hn.stateDir],
    [["hypervisor", "arenaMiB"], ho.arenaMiB, hn.arenaMiB],
    [["hypervisor", "api", "socket"], ho.api.socket, hn.api.socket],
    [["hypervisor", "api", "tcp"], ho.api.tcp?.listen, hn.api.tcp?.listen],
    [["hypervisor", "metrics"], ho.metrics?.listen, hn.metrics?.listen],
    [["hypervisor", "log", "format"], ho.log.format, hn.log.format],
  ];
  if (options.vxlanOpen) fixed.push([["vxlan", "listen"], old.vxlan.listen, next.vxlan.listen]);
  for (const [path, a, b] of fixed) {
    if (canonical(a) !== canonical(b)) {
      diff.restart.push({ path, message: "cannot change while vroomd runs: restart it" });
    }
  }
  if (ho.log.level !== hn.log.level) diff.logLevel = hn.log.level;
  diff.tokenFileChanged = ho.api.tcp?.tokenFile !== hn.api.tcp?.tokenFile;

  // links
  const oldLinks = new Map(old.links.map((l) => [l.name, l]));
  const newLinks = new Map(next.links.map((l) => [l.name, l]));
  for (const l of old.links) if (!newLinks.has(l.name)) diff.links.removed.push(l);
  for (const l of next.links) {
    const o = oldLinks.get(l.name);
    if (o === undefined) diff.links.added.push(l);
    else if (canonical(o) !== canonical(l)) diff.links.replaced.push({ old: o, next: l });
  }

  // routers
  const oldRouters = new Map(old.routers.map((r) => [r.name, r]));
  const newRouters = new Map(next.routers.map((r) => [r.name, r]));
  for (const r of old.routers) if (!newRouters.has(r.name)) diff.routers.removed.push(r);
  for (const r of next.routers) {
    const o = oldRouters.get(r.name);
    if (o === undefined) diff.routers.added.push(r);
    else if (sameRouter(o, r)) {
      diff.routers.kept.push({ old: o, next: r });
      diff.bindings.push(...bindingChanges(o, r));
    } else
      diff.routers.rebuilt.push({ old: o, next: r, fields: changedFields(o.section, r.section) });
  }

  // switching
  const key = (s: SwitchRuleConfig) => `${s.from}>${s.to}`;
  const oldRules = new Set(old.switching.map(key));
  const newRules = new Set(next.switching.map(key));
  diff.switching.removed = old.switching.filter((s) => !newRules.has(key(s)));
  diff.switching.added = next.switching.filter((s) => !oldRules.has(key(s)));
  return diff;
}

/** Whether two router sections build the same router. */
export function sameRouter(a: DaemonRouterConfig, b: DaemonRouterConfig): boolean {
  return (
    canonical(a.section) === canonical(b.section) || canonical(a.router) === canonical(b.router)
  );
}

function bindingChanges(o: DaemonRouterConfig, n: DaemonRouterConfig): BindingChange[] {
  const byIndex = (bs: BindingConfig[]) => new Map(bs.map((b) => [b.ifIndex, b.link]));
  const ob = byIndex(o.bindings);
  const nb = byIndex(n.bindings);
  const out: BindingChange[] = [];
  n.router.interfaces.forEach((ifc, i) => {
    const a = ob.get(i);
    const b = nb.get(i);
    if (a === b) return;
    const change: BindingChange = { router: n.name, ifIndex: i, interface: ifc.name };
    if (a !== undefined) change.old = a;
    if (b !== undefined) change.next = b;
    out.push(change);
  });
  return out;
}

function changedFields(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => canonical(a[k]) !== canonical(b[k])).sort();
}

/** Whether the diff changes nothing that the daemon runs. */
export function diffIsEmpty(d: ConfigDiff): boolean {
  return (
    d.links.added.length +
      d.links.removed.length +
      d.links.replaced.length +
      d.routers.added.length +
      d.routers.removed.length +
      d.routers.rebuilt.length +
      d.bindings.length +
      d.switching.added.length +
      d.switching.removed.length ===
      0 &&
    d.logLevel === undefined &&
    !d.tokenFileChanged
  );
}

/** One line per change, as logs and `vroomctl reload` show them. */
export function describeDiff(d: ConfigDiff): string[] {
  const out: string[] = [];
  for (const l of d.links.removed) out.push(`link ${l.name} removed`);
  for (const { next } of d.links.replaced)
    out.push(`link ${next.name} replaced (settings changed)`);
  for (const l of d.links.added) out.push(`link ${l.name} (${l.kind}) added`);
  for (const r of d.routers.removed) out.push(`router ${r.name} removed`);
  for (const r of d.routers.rebuilt) {
    out.push(`router ${r.next.name} rebuilt (${r.fields.join(", ") || "configuration"} changed)`);
  }
  for (const r of d.routers.added) out.push(`router ${r.name} added`);
  for (const b of d.bindings) {
    if (b.next === undefined) out.push(`${b.router}/${b.interface} unbound from ${b.old}`);
    else if (b.old === undefined) out.push(`${b.router}/${b.interface} bound to ${b.next}`);
    else out.push(`${b.router}/${b.interface} rebound from ${b.old} to ${b.next}`);
  }
  for (const s of d.switching.removed) out.push(`switching ${s.from} -> ${s.to} removed`);
  for (const s of d.switching.added) out.push(`switching ${s.from} -> ${s.to} added`);
  if (d.logLevel !== undefined) out.push(`log level set to ${d.logLevel}`);
  if (d.tokenFileChanged) out.push("API token file changed");
  return out;
}

/**
 * A stable text form of plain data for comparison: object keys sorted,
 * typed arrays, maps and sets as arrays, bigints as text; functions left out.
 */
export function canonical(value: unknown): string {
  return JSON.stringify(normal(value)) ?? "undefined";
}

function normal(v: unknown): unknown {
  if (v === null || typeof v !== "object") {
    if (typeof v === "bigint") return `${v}n`;
    if (typeof v === "function") return undefined;
    return v;
  }
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(normal);
  if (v instanceof Map) return [...v].map(([k, x]) => [normal(k), normal(x)]);
  if (v instanceof Set) return [...v].map(normal);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const x = normal((v as Record<string, unknown>)[k]);
    if (x !== undefined) out[k] = x;
  }
  return out;
}

// ---- applying changes all or nothing --------------------------------------------------

/** A step that failed, with where in the configuration it came from. */
export class StepError extends Error {
  constructor(
    readonly step: string,
    override readonly cause: unknown,
    readonly path?: (string | number)[],
  ) {
    super(`${step}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "StepError";
  }
}

/**
 * Steps run at once, each with its undo; `rollback` undoes the steps done
 * (last first), `commit` runs the deferred finalisers (closing what was
 * taken down, which cannot be undone).
 */
export class Transaction {
  readonly #undo: { step: string; undo: () => void }[] = [];
  readonly #finally: (() => void)[] = [];
  readonly done: string[] = [];

  /** Runs `run`; on a throw, raises a StepError (nothing recorded). */
  step(step: string, run: () => void, undo: () => void, path?: (string | number)[]): void {
    try {
      run();
    } catch (e) {
      throw new StepError(step, e, path);
    }
    this.#undo.push({ step, undo });
    this.done.push(step);
  }

  /** Runs `fn` at commit only. */
  atCommit(fn: () => void): void {
    this.#finally.push(fn);
  }

  /** Undoes every step done, last first; answers the undo failures. */
  rollback(): string[] {
    const failures: string[] = [];
    for (let i = this.#undo.length - 1; i >= 0; i--) {
      const { step, undo } = this.#undo[i];
      try {
        undo();
      } catch (e) {
        failures.push(`undo ${step}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.#undo.length = 0;
    this.#finally.length = 0;
    return failures;
  }

  /** Runs the finalisers; answers their failures (the changes stay). */
  commit(): string[] {
    const failures: string[] = [];
    for (const fn of this.#finally) {
      try {
        fn();
      } catch (e) {
        failures.push(e instanceof Error ? e.message : String(e));
      }
    }
    this.#undo.length = 0;
    this.#finally.length = 0;
    return failures;
  }
}
