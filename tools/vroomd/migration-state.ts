/**
 * The daemon's one ownership record (docs/MIGRATION.md, "Commit protocol";
 * ./state.ts): `owned.json` in the state directory holds, per router, both
 * what the daemon needs (origin: config file or API; since when it is
 * here) and what the migration protocol needs (epoch, role, peer,
 * migration id). `OwnedFileBackend` lets migration/ownership.ts's
 * `OwnershipStore` keep that file as its backend: it reads owned.json into
 * the store's form and writes the store's record back with each router's
 * origin and age, through the state directory's atomic, flushed writes.
 *
 * Routers the migration service brings in have no origin yet: they are
 * "api" routers (stored in the state directory like those created through
 * the API), here since their ownership entry was first written.
 */
import type { OwnershipBackend, OwnershipRole } from "../../migration/ownership.ts";
import type { OwnedRouter, RouterOrigin, StateDir } from "./state.ts";

export interface RouterMeta {
  origin: RouterOrigin;
  since: string;
}

interface StoreEntry {
  router: string;
  epoch: number;
  role: OwnershipRole;
  peer?: string;
  migrationId?: string;
  updatedAt: string;
}

export class OwnedFileBackend implements OwnershipBackend {
  /** Origin and age per router; the daemon keeps it current before each ownership write. */
  readonly meta = new Map<string, RouterMeta>();
  /**
   * Runs before a record is written, with the routers it says are owned
   * here: the daemon stores an arriving router's configuration durably
   * before the record that makes it the owner.
   */
  beforeWrite: (owned: string[]) => Promise<void> = async () => {};

  constructor(
    readonly state: StateDir,
    readonly hypervisor: string,
  ) {}

  get where(): string {
    return this.state.ownershipFile;
  }

  async read(): Promise<string | undefined> {
    const record = await this.state.readOwnership();
    if (record === undefined) return undefined;
    const routers: StoreEntry[] = record.routers.map((r) => {
      this.meta.set(r.name, { origin: r.origin, since: r.since });
      return {
        router: r.name,
        epoch: r.epoch ?? 1,
        role: r.role ?? "owned",
        ...(r.peer === undefined ? {} : { peer: r.peer }),
        ...(r.migrationId === undefined ? {} : { migrationId: r.migrationId }),
        updatedAt: r.updatedAt ?? r.since,
      };
    });
    return JSON.stringify({
      version: 1,
      hypervisor: record.hypervisor,
      updatedAt: record.updatedAt,
      routers,
    });
  }

  async write(text: string): Promise<void> {
    const record = JSON.parse(text) as {
      hypervisor: string;
      updatedAt: string;
      routers: StoreEntry[];
    };
    await this.beforeWrite(record.routers.filter((e) => e.role === "owned").map((e) => e.router));
    const routers: OwnedRouter[] = record.routers
      .map((e) => {
        const meta = this.meta.get(e.router) ?? { origin: "api" as const, since: e.updatedAt };
        return {
          name: e.router,
          origin: meta.origin,
          since: meta.since,
          epoch: e.epoch,
          role: e.role,
          ...(e.peer === undefined ? {} : { peer: e.peer }),
          ...(e.migrationId === undefined ? {} : { migrationId: e.migrationId }),
          updatedAt: e.updatedAt,
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    await this.state.writeOwnership({
      version: 1,
      hypervisor: record.hypervisor,
      updatedAt: record.updatedAt,
      routers,
    });
  }
}
