import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  checkTransition,
  MemoryOwnershipBackend,
  OWNERSHIP_TRANSITIONS,
  type OwnershipEntry,
  OwnershipError,
  type OwnershipRole,
  OwnershipStore,
  resolveFromRecord,
  resumeFromRecord,
} from "../../migration/ownership.ts";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vroom-ownership-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ROLES: OwnershipRole[] = ["owned", "outgoing", "gone", "abandoned"];

function entry(
  role: OwnershipRole,
  epoch: number,
  peer?: string,
  migrationId?: string,
): OwnershipEntry {
  return {
    router: "vr1",
    role,
    epoch,
    updatedAt: "",
    ...(peer ? { peer } : {}),
    ...(migrationId ? { migrationId } : {}),
  };
}

describe("the transitions", () => {
  it("allow exactly what the table says, and an epoch never goes down", () => {
    for (const from of [undefined, ...ROLES.map((r) => entry(r, 5))]) {
      for (const to of ROLES) {
        for (const epoch of [4, 5, 6]) {
          const why = checkTransition(from, to, epoch);
          const rules = OWNERSHIP_TRANSITIONS[from?.role ?? "none"];
          const rule = rules.find((r) => r.to === to);
          const current = from?.epoch ?? 0;
          const allowed =
            rule !== undefined &&
            ((rule.epoch === "same" && epoch === current) ||
              (rule.epoch === "greater" && epoch > current));
          expect(why === undefined, `${from?.role ?? "none"}@5 -> ${to}@${epoch}: ${why}`).toBe(
            allowed,
          );
          if (epoch < current) expect(why).toBeDefined();
        }
      }
    }
    expect(checkTransition(undefined, "owned", 0)).toMatch(/not an integer in 1/);
    expect(checkTransition(entry("owned", 5), "owned", 5)).toMatch(/needs an epoch above 5/);
    expect(checkTransition(entry("outgoing", 5), "outgoing", 6)).toMatch(
      /not an allowed transition/,
    );
  });
});

describe("the file record", () => {
  it("survives a restart", async () => {
    let store = await OwnershipStore.open(dir, "pr1");
    await store.claim("vr1");
    await store.set("vr2", "owned", 7);
    await store.set("vr2", "outgoing", 8, { peer: "pr2", migrationId: "ab".repeat(16) });
    await store.set("vr3", "abandoned", 2, { peer: "pr3" });
    const before = store.entries();
    store = await OwnershipStore.open(dir, "pr1");
    expect(store.entries()).toEqual(before);
    expect(store.owned()).toEqual(["vr1"]);
    expect(store.get("vr2")).toMatchObject({ role: "outgoing", epoch: 8, peer: "pr2" });
    expect(await readdir(dir)).toEqual(["ownership.json"]);
  });

  it("refuses an epoch that goes down and leaves the file as it was", async () => {
    const store = await OwnershipStore.open(dir, "pr1");
    await store.set("vr1", "owned", 5);
    const text = await readFile(join(dir, "ownership.json"), "utf8");
    await expect(store.set("vr1", "owned", 4)).rejects.toThrow(OwnershipError);
    await expect(store.set("vr1", "owned", 5)).rejects.toThrow(/an epoch only grows/);
    expect(await readFile(join(dir, "ownership.json"), "utf8")).toBe(text);
    expect(store.get("vr1")?.epoch).toBe(5);
  });

  it("claims a router at the next epoch after any earlier entry", async () => {
    const store = await OwnershipStore.open(dir, "pr1");
    expect((await store.claim("vr1")).epoch).toBe(1);
    expect((await store.claim("vr1")).epoch).toBe(1);
    await store.set("vr1", "outgoing", 2, { peer: "pr2" });
    await expect(store.claim("vr1")).rejects.toThrow(/moving to pr2 at epoch 2/);
    await store.set("vr1", "gone", 2, { peer: "pr2" });
    expect(await store.claim("vr1")).toMatchObject({ role: "owned", epoch: 3 });
  });

  it("refuses a record that does not parse, naming the file", async () => {
    const path = join(dir, "ownership.json");
    await writeFile(path, "{ not json");
    await expect(OwnershipStore.open(dir, "pr1")).rejects.toThrow(path);
    await writeFile(
      path,
      JSON.stringify({
        version: 1,
        hypervisor: "pr1",
        updatedAt: "",
        routers: [{ router: "vr1", epoch: -1, role: "owned", updatedAt: "" }],
      }),
    );
    await expect(OwnershipStore.open(dir, "pr1")).rejects.toThrow(/routers\.0\.epoch/);
    await writeFile(
      path,
      JSON.stringify({ version: 1, hypervisor: "pr9", updatedAt: "", routers: [] }),
    );
    await expect(OwnershipStore.open(dir, "pr1")).rejects.toThrow(/belongs to hypervisor pr9/);
    const dup = { router: "vr1", epoch: 1, role: "owned", updatedAt: "" };
    await writeFile(
      path,
      JSON.stringify({ version: 1, hypervisor: "pr1", updatedAt: "", routers: [dup, dup] }),
    );
    await expect(OwnershipStore.open(dir, "pr1")).rejects.toThrow(/listed twice/);
  });

  it("serialises concurrent writes and keeps a valid file", async () => {
    const store = await OwnershipStore.open(dir, "pr1");
    const writes = Array.from({ length: 40 }, (_, i) =>
      store.set(`vr${i % 8}`, "owned", 1 + Math.floor(i / 8)),
    );
    await Promise.all(writes);
    const again = await OwnershipStore.open(dir, "pr1");
    expect(again.entries()).toEqual(store.entries());
    expect(again.entries().map((e) => e.epoch)).toEqual(Array(8).fill(5));
  });

  it("changes nothing in memory when the write fails", async () => {
    const backend = new MemoryOwnershipBackend();
    const store = await OwnershipStore.load(backend, "pr1");
    await store.set("vr1", "owned", 1);
    backend.failWrites = 1;
    await expect(store.set("vr1", "outgoing", 2, { peer: "pr2" })).rejects.toThrow(/injected/);
    expect(store.get("vr1")).toMatchObject({ role: "owned", epoch: 1 });
    const reread = await OwnershipStore.load(backend, "pr1");
    expect(reread.get("vr1")).toMatchObject({ role: "owned", epoch: 1 });
  });

  it("keeps epochs growing through any sequence of requests, and reloads what it holds", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            router: fc.constantFrom("a", "b"),
            role: fc.constantFrom(...ROLES),
            epoch: fc.integer({ min: 1, max: 12 }),
          }),
          { maxLength: 40 },
        ),
        async (requests) => {
          const backend = new MemoryOwnershipBackend();
          const store = await OwnershipStore.load(backend, "pr1");
          const last = new Map<string, number>();
          for (const r of requests) {
            const before = store.get(r.router);
            try {
              await store.set(r.router, r.role, r.epoch);
              expect(checkTransition(before, r.role, r.epoch)).toBeUndefined();
              expect(r.epoch).toBeGreaterThanOrEqual(last.get(r.router) ?? 0);
              last.set(r.router, r.epoch);
            } catch (e) {
              expect(e).toBeInstanceOf(OwnershipError);
              expect(store.get(r.router)).toEqual(before);
            }
          }
          const reread = await OwnershipStore.load(backend, "pr1");
          expect(reread.entries()).toEqual(store.entries());
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("answers from the record", () => {
  const id = "cd".repeat(16);
  it("resolve: commit only when the decision for that migration is recorded", () => {
    expect(resolveFromRecord(entry("outgoing", 4, "pr2", id), "pr2", 4, id)).toBe("commit");
    expect(resolveFromRecord(entry("gone", 4, "pr2", id), "pr2", 4, id)).toBe("commit");
    expect(resolveFromRecord(entry("owned", 3), "pr2", 4, id)).toBe("abort");
    expect(resolveFromRecord(entry("owned", 5), "pr2", 4, id)).toBe("abort");
    expect(resolveFromRecord(entry("outgoing", 4, "pr3", id), "pr2", 4, id)).toBe("abort");
    expect(resolveFromRecord(entry("outgoing", 4, "pr2", "ef".repeat(16)), "pr2", 4, id)).toBe(
      "abort",
    );
    expect(resolveFromRecord(undefined, "pr2", 4, id)).toBe("abort");
  });

  it("resume: activated only when the target owns that epoch, else fence and abandon", () => {
    expect(resumeFromRecord(entry("owned", 4), 4)).toEqual({ answer: "activated" });
    expect(resumeFromRecord(undefined, 4)).toEqual({ answer: "abandoned", fence: true });
    expect(resumeFromRecord(entry("gone", 2), 4)).toEqual({ answer: "abandoned", fence: true });
    expect(resumeFromRecord(entry("abandoned", 4), 4)).toEqual({
      answer: "abandoned",
      fence: false,
    });
    expect(resumeFromRecord(entry("owned", 6), 4)).toEqual({ answer: "abandoned", fence: false });
  });
});
