/**
 * vroomd's state directory: what the daemon must remember across restarts
 * that is not in its configuration file.
 *
 *   <stateDir>/vroomd.lock          the pid of the daemon using the directory
 *   <stateDir>/owned.json           the ownership record: every router this
 *                                   hypervisor has had to do with, its epoch
 *                                   and role (owned, outgoing, gone,
 *                                   abandoned: migration/ownership.ts), and
 *                                   where it comes from (config or API);
 *                                   the one record of ownership, which the
 *                                   migration service writes through
 *                                   ./migration-state.ts
 *   <stateDir>/routers/<name>.json  each router created through the API: its
 *                                   section (interfaces with their links)
 *
 * A router created through the API (or moved here) comes back on restart
 * only if `owned.json` lists it as owned (a router that moved away must
 * not return). Entries written before migration existed have no epoch or
 * role: they read as owned at epoch 1. Every write is atomic: the bytes go to a temporary file in the
 * same directory, are flushed, and the file is renamed over the old one, so
 * a crash leaves the old or the new version, never half of one. Writes are
 * serialised, so concurrent requests cannot interleave them. Files that do
 * not parse are reported with their path, never half-used.
 */
import { constants } from "node:fs";
import { mkdir, open, readdir, readFile, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { syncDirectory, writeFileDurably } from "../../migration/durable-write.ts";

export type RouterOrigin = "config" | "api";

export interface OwnedRouter {
  name: string;
  origin: RouterOrigin;
  /** ISO time the router was first placed here. */
  since: string;
  /** Ownership epoch and role (migration/ownership.ts); absent: owned at epoch 1. */
  epoch?: number;
  role?: "owned" | "outgoing" | "gone" | "abandoned";
  peer?: string;
  migrationId?: string;
  /** ISO time of the last change of epoch or role. */
  updatedAt?: string;
}

export interface OwnershipRecord {
  version: 1;
  hypervisor: string;
  updatedAt: string;
  routers: OwnedRouter[];
}

/** A VXLAN link made for a router that moved here (from the migration segments), kept with it. */
export interface StoredLink {
  name: string;
  vni: number;
  remotes: string[];
  remotePort: number;
}

export interface StoredRouter {
  version: 1;
  name: string;
  createdAt: string;
  /** The router section as created (interfaces carry their `link`). */
  router: Record<string, unknown>;
  /** Links the router brought (it moved here): made again at start before it is placed. */
  links?: StoredLink[];
}

const ROUTER_FILE = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,31})\.json$/;

export class StateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StateError";
  }
}

export class StateDir {
  readonly routersDir: string;
  readonly ownershipFile: string;
  readonly lockFile: string;
  #chain: Promise<unknown> = Promise.resolve();
  #locked = false;

  constructor(readonly dir: string) {
    this.routersDir = join(dir, "routers");
    this.ownershipFile = join(dir, "owned.json");
    this.lockFile = join(dir, "vroomd.lock");
  }

  /** Creates the directories (mode 0700) and takes the lock; throws StateError. */
  async open(): Promise<void> {
    try {
      await mkdir(this.routersDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new StateError(`cannot create state directory ${this.dir}: ${errText(e)}`);
    }
    await this.#lock();
  }

  async #lock(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(
          this.lockFile,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
          0o600,
        );
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        this.#locked = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") {
          throw new StateError(`cannot lock ${this.lockFile}: ${errText(e)}`);
        }
      }
      const pid = Number.parseInt(
        (await readFile(this.lockFile, "utf8").catch(() => "")).trim(),
        10,
      );
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new StateError(`state directory ${this.dir} is in use by vroomd pid ${pid}`);
      }
      await rm(this.lockFile, { force: true }); // stale: its daemon is gone
    }
    throw new StateError(`cannot lock ${this.lockFile}`);
  }

  /** Releases the lock; idempotent. */
  async close(): Promise<void> {
    await this.#chain.catch(() => {});
    if (!this.#locked) return;
    this.#locked = false;
    await rm(this.lockFile, { force: true });
  }

  // ---- ownership ---------------------------------------------------------------

  async readOwnership(): Promise<OwnershipRecord | undefined> {
    const text = await readOptional(this.ownershipFile);
    if (text === undefined) return undefined;
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new StateError(`${this.ownershipFile}: not JSON (${errText(e)})`);
    }
    if (!isOwnership(data)) {
      throw new StateError(`${this.ownershipFile}: not an ownership record (version 1)`);
    }
    return data;
  }

  writeOwnership(record: OwnershipRecord): Promise<void> {
    return this.#atomic(this.ownershipFile, `${JSON.stringify(record, null, 2)}\n`);
  }

  // ---- routers created through the API -------------------------------------------

  routerFile(name: string): string {
    return join(this.routersDir, `${name}.json`);
  }

  /** Every stored router; throws StateError naming the first bad file. */
  async readRouters(): Promise<StoredRouter[]> {
    let names: string[];
    try {
      names = (await readdir(this.routersDir)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new StateError(`cannot read ${this.routersDir}: ${errText(e)}`);
    }
    const out: StoredRouter[] = [];
    for (const file of names) {
      const m = ROUTER_FILE.exec(file);
      if (m === null) continue; // temporary files, editors' backups
      const path = join(this.routersDir, file);
      const text = await readOptional(path);
      if (text === undefined) continue;
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch (e) {
        throw new StateError(`${path}: not JSON (${errText(e)})`);
      }
      if (!isStoredRouter(data) || data.name !== m[1]) {
        throw new StateError(`${path}: not a stored router named ${m[1]} (version 1)`);
      }
      out.push(data);
    }
    return out;
  }

  saveRouter(stored: StoredRouter): Promise<void> {
    return this.#atomic(this.routerFile(stored.name), `${JSON.stringify(stored, null, 2)}\n`);
  }

  deleteRouter(name: string): Promise<void> {
    return this.#serial(async () => {
      await unlink(this.routerFile(name)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "ENOENT") throw e;
      });
      syncDirectory(this.routersDir);
    });
  }

  // ---- atomic writes ---------------------------------------------------------------

  #atomic(path: string, text: string): Promise<void> {
    return this.#serial(async () => {
      try {
        writeFileDurably(path, text);
      } catch (e) {
        throw new StateError(`cannot write ${path}: ${errText(e)}`);
      }
    });
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(task, task);
    this.#chain = run.catch(() => {});
    return run;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new StateError(`cannot read ${path}: ${errText(e)}`);
  }
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ?? err.message ?? String(e);
}

function isOwnership(d: unknown): d is OwnershipRecord {
  if (typeof d !== "object" || d === null) return false;
  const r = d as Record<string, unknown>;
  return (
    r.version === 1 &&
    typeof r.hypervisor === "string" &&
    Array.isArray(r.routers) &&
    r.routers.every(
      (o: unknown) =>
        typeof o === "object" &&
        o !== null &&
        typeof (o as OwnedRouter).name === "string" &&
        ((o as OwnedRouter).origin === "config" || (o as OwnedRouter).origin === "api") &&
        typeof (o as OwnedRouter).since === "string",
    )
  );
}

function isStoredRouter(d: unknown): d is StoredRouter {
  if (typeof d !== "object" || d === null) return false;
  const r = d as Record<string, unknown>;
  return (
    r.version === 1 &&
    typeof r.name === "string" &&
    typeof r.createdAt === "string" &&
    typeof r.router === "object" &&
    r.router !== null &&
    !Array.isArray(r.router) &&
    (r.links === undefined || (Array.isArray(r.links) && r.links.every(isStoredLink)))
  );
}

function isStoredLink(d: unknown): d is StoredLink {
  if (typeof d !== "object" || d === null) return false;
  const l = d as Record<string, unknown>;
  return (
    typeof l.name === "string" &&
    Number.isInteger(l.vni) &&
    Array.isArray(l.remotes) &&
    l.remotes.every((x) => typeof x === "string") &&
    Number.isInteger(l.remotePort)
  );
}
