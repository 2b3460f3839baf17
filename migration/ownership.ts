/**
 * A hypervisor's persistent record of the routers it owns and under which
 * epoch (docs/MIGRATION.md, "Commit protocol"): what a restarted hypervisor
 * reads to know what it owns, and what the commit protocol writes at its
 * decision points.
 *
 * One entry per router a hypervisor has had to do with:
 *
 *   owned      this hypervisor is the router's authority at `epoch`
 *   outgoing   the source decided to move the router to `peer` at `epoch`
 *              (the commit point); it keeps a frozen copy until the target
 *              confirms it runs the router
 *   gone       the router moved to `peer` at `epoch` and was dropped here
 *   abandoned  `epoch` can never become active here (a target that lost its
 *              standby, or a source that lost the router): a fence against
 *              stale messages of that migration
 *
 * An epoch only ever grows. Allowed transitions (same epoch = the entry's
 * epoch stays; greater = the new epoch is larger):
 *
 *   (none)    -> owned (greater), abandoned (greater)
 *   owned     -> outgoing (greater), owned (greater), gone (same), abandoned (same)
 *   outgoing  -> gone (same), abandoned (same), owned (greater: reclaim)
 *   gone      -> owned (greater), abandoned (greater)
 *   abandoned -> owned (greater), abandoned (greater)
 *
 * Anything else is refused with an `OwnershipError` and changes nothing.
 *
 * Writes are atomic and durable: the whole record goes to a temporary file
 * in the same directory, is flushed (fsync), renamed over the old file, and
 * the directory is flushed, so a crash leaves the old or the new record,
 * never half of one. Writes are serialised; the in-memory view changes only
 * once a write succeeded. A record that does not parse is refused at open
 * with its path, never half-used.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileDurably } from "./durable-write.ts";

export type OwnershipRole = "owned" | "outgoing" | "gone" | "abandoned";

export interface OwnershipEntry {
  router: string;
  epoch: number;
  role: OwnershipRole;
  /** outgoing, gone: where the router went; abandoned: the other end of the migration. */
  peer?: string;
  /** The migration that wrote the entry (32 hex digits). */
  migrationId?: string;
  /** ISO time of the write. */
  updatedAt: string;
}

export class OwnershipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OwnershipError";
  }
}

type Rule = { to: OwnershipRole; epoch: "same" | "greater" };

/** The allowed transitions, as in the module comment. */
export const OWNERSHIP_TRANSITIONS: Record<OwnershipRole | "none", readonly Rule[]> = {
  none: [
    { to: "owned", epoch: "greater" },
    { to: "abandoned", epoch: "greater" },
  ],
  owned: [
    { to: "outgoing", epoch: "greater" },
    { to: "owned", epoch: "greater" },
    { to: "gone", epoch: "same" },
    { to: "abandoned", epoch: "same" },
  ],
  outgoing: [
    { to: "gone", epoch: "same" },
    { to: "abandoned", epoch: "same" },
    { to: "owned", epoch: "greater" },
  ],
  gone: [
    { to: "owned", epoch: "greater" },
    { to: "abandoned", epoch: "greater" },
  ],
  abandoned: [
    { to: "owned", epoch: "greater" },
    { to: "abandoned", epoch: "greater" },
  ],
};

/** Why `from -> to` at `epoch` is refused, or undefined when it is allowed. */
export function checkTransition(
  from: OwnershipEntry | undefined,
  to: OwnershipRole,
  epoch: number,
): string | undefined {
  if (!Number.isSafeInteger(epoch) || epoch < 1) {
    return `epoch ${epoch} is not an integer in 1..2^53-1`;
  }
  const role = from?.role ?? "none";
  const current = from?.epoch ?? 0;
  const rule = OWNERSHIP_TRANSITIONS[role].find((r) => r.to === to);
  if (rule === undefined) return `${role} -> ${to} is not an allowed transition`;
  if (rule.epoch === "same" && epoch !== current) {
    return `${role} -> ${to} keeps the epoch ${current}, not ${epoch}`;
  }
  if (rule.epoch === "greater" && epoch <= current) {
    return `${role} -> ${to} needs an epoch above ${current}, not ${epoch} (an epoch only grows)`;
  }
  return undefined;
}

/** Where the record lives: a file, or memory (tests). */
export interface OwnershipBackend {
  /** The record's text, or undefined when there is none yet. */
  read(): Promise<string | undefined>;
  /** Replaces the record atomically and durably. */
  write(text: string): Promise<void>;
  /** Names the record in errors. */
  readonly where: string;
}

const entrySchema = z.strictObject({
  router: z.string().min(1).max(128),
  epoch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  role: z.enum(["owned", "outgoing", "gone", "abandoned"]),
  peer: z.string().min(1).max(128).optional(),
  migrationId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional(),
  updatedAt: z.string(),
});

const recordSchema = z.strictObject({
  version: z.literal(1),
  hypervisor: z.string().min(1),
  updatedAt: z.string(),
  routers: z.array(entrySchema),
});

export class OwnershipStore {
  readonly hypervisor: string;
  readonly backend: OwnershipBackend;
  readonly #entries = new Map<string, OwnershipEntry>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Completed writes (tests measure them). */
  writes = 0;

  private constructor(hypervisor: string, backend: OwnershipBackend) {
    this.hypervisor = hypervisor;
    this.backend = backend;
  }

  /** Opens (or starts) the record in `dir`/ownership.json. Throws OwnershipError on a bad record. */
  static async open(dir: string, hypervisor: string): Promise<OwnershipStore> {
    await mkdir(dir, { recursive: true });
    return OwnershipStore.load(new FileOwnershipBackend(join(dir, "ownership.json")), hypervisor);
  }

  /** Opens a record held by `backend`. Throws OwnershipError on a bad record. */
  static async load(backend: OwnershipBackend, hypervisor: string): Promise<OwnershipStore> {
    const store = new OwnershipStore(hypervisor, backend);
    const text = await backend.read();
    if (text === undefined) return store;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new OwnershipError(`${backend.where}: not JSON: ${(e as Error).message}`);
    }
    const parsed = recordSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new OwnershipError(
        `${backend.where}: ${issue.path.join(".") || "(record)"}: ${issue.message}`,
      );
    }
    if (parsed.data.hypervisor !== hypervisor) {
      throw new OwnershipError(
        `${backend.where}: the record belongs to hypervisor ${parsed.data.hypervisor}, not ${hypervisor}`,
      );
    }
    for (const e of parsed.data.routers) {
      if (store.#entries.has(e.router)) {
        throw new OwnershipError(`${backend.where}: router ${e.router} is listed twice`);
      }
      store.#entries.set(e.router, { ...e });
    }
    return store;
  }

  get(router: string): OwnershipEntry | undefined {
    const e = this.#entries.get(router);
    return e === undefined ? undefined : { ...e };
  }

  entries(): OwnershipEntry[] {
    return [...this.#entries.values()]
      .map((e) => ({ ...e }))
      .sort((a, b) => a.router.localeCompare(b.router));
  }

  /** Names of the routers this hypervisor owns. */
  owned(): string[] {
    return this.entries()
      .filter((e) => e.role === "owned")
      .map((e) => e.router);
  }

  owns(router: string): boolean {
    return this.#entries.get(router)?.role === "owned";
  }

  /**
   * Writes `router` -> `role` at `epoch` once the transitions allow it.
   * Rejects with OwnershipError (nothing written) when they do not, or with
   * the backend's error when the write fails (nothing changed in memory).
   */
  set(
    router: string,
    role: OwnershipRole,
    epoch: number,
    extra: { peer?: string; migrationId?: string } = {},
  ): Promise<OwnershipEntry> {
    return this.#serial(async () => {
      const why = checkTransition(this.#entries.get(router), role, epoch);
      if (why !== undefined) throw new OwnershipError(`router ${router}: ${why}`);
      const entry: OwnershipEntry = {
        router,
        epoch,
        role,
        ...(extra.peer === undefined ? {} : { peer: extra.peer }),
        ...(extra.migrationId === undefined ? {} : { migrationId: extra.migrationId }),
        updatedAt: new Date().toISOString(),
      };
      const next = new Map(this.#entries);
      next.set(router, entry);
      await this.#write(next);
      this.#entries.set(router, entry);
      return { ...entry };
    });
  }

  /**
   * Makes this hypervisor the owner of a router it creates (or already
   * owns): owned at the next epoch after any earlier entry, or at 1. Refused
   * while the router is outgoing (a migration decided and not finished).
   */
  claim(router: string): Promise<OwnershipEntry> {
    return this.#serial(async () => {
      const current = this.#entries.get(router);
      if (current?.role === "owned") return { ...current };
      if (current?.role === "outgoing") {
        throw new OwnershipError(
          `router ${router} is moving to ${current.peer} at epoch ${current.epoch}: it cannot be claimed`,
        );
      }
      const epoch = (current?.epoch ?? 0) + 1;
      const entry: OwnershipEntry = { router, epoch, role: "owned", updatedAt: now() };
      const next = new Map(this.#entries);
      next.set(router, entry);
      await this.#write(next);
      this.#entries.set(router, entry);
      return { ...entry };
    });
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #write(entries: Map<string, OwnershipEntry>): Promise<void> {
    const record = {
      version: 1 as const,
      hypervisor: this.hypervisor,
      updatedAt: now(),
      routers: [...entries.values()].sort((a, b) => a.router.localeCompare(b.router)),
    };
    await this.backend.write(`${JSON.stringify(record, null, 2)}\n`);
    this.writes++;
  }
}

function now(): string {
  return new Date().toISOString();
}

/** The record as a file: temp file, fsync, rename, fsync of the directory. */
export class FileOwnershipBackend implements OwnershipBackend {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  get where(): string {
    return this.path;
  }

  async read(): Promise<string | undefined> {
    try {
      return await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async write(text: string): Promise<void> {
    writeFileDurably(this.path, text);
  }
}

/** A record in memory, with injectable write failures and delays (tests). */
export class MemoryOwnershipBackend implements OwnershipBackend {
  text: string | undefined;
  /** Fail the next `n` writes. */
  failWrites = 0;
  readonly where = "(memory)";

  constructor(text?: string) {
    this.text = text;
  }

  async read(): Promise<string | undefined> {
    return this.text;
  }

  async write(text: string): Promise<void> {
    if (this.failWrites > 0) {
      this.failWrites--;
      throw new Error("injected write failure");
    }
    this.text = text;
  }
}

// ---- answers from the record ----------------------------------------------------------------

/**
 * A target in doubt asks how migration `migrationId` (router to `peer`... at
 * `epoch`) ended, and the source has no live session for it (it finished, or
 * the source restarted). Commit when the record shows the decision for that
 * migration ("outgoing" or, later, "gone" to that peer at that epoch); abort
 * otherwise: with no session left, no decision can be taken any more.
 */
export function resolveFromRecord(
  entry: OwnershipEntry | undefined,
  peer: string,
  epoch: number,
  migrationId: string,
): "commit" | "abort" {
  const decided =
    entry !== undefined &&
    (entry.role === "outgoing" || entry.role === "gone") &&
    entry.epoch === epoch &&
    entry.peer === peer &&
    (entry.migrationId === undefined || entry.migrationId === migrationId);
  return decided ? "commit" : "abort";
}

/**
 * A source resumes a committed migration the target has no live session
 * for (the target restarted). Owned at that epoch: the router is the
 * target's, ACTIVATED. Otherwise the target holds no copy: ABANDONED, once
 * the epoch is fenced (`fence`: "abandoned" must be written first, unless
 * the record is already at or past it).
 */
export function resumeFromRecord(
  entry: OwnershipEntry | undefined,
  epoch: number,
): { answer: "activated" } | { answer: "abandoned"; fence: boolean } {
  if (entry?.role === "owned" && entry.epoch === epoch) return { answer: "activated" };
  const fenced =
    entry !== undefined &&
    (entry.epoch > epoch || (entry.epoch === epoch && entry.role === "abandoned"));
  return { answer: "abandoned", fence: !fenced };
}
