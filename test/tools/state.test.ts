/**
 * The state directory across restarts: routers created through the API
 * come back (with their bindings, including ones changed later) when the
 * daemon restarts, only if the ownership record says this hypervisor owns
 * them; writes are atomic and leave no temporary files; a bad stored file
 * or a directory another live daemon holds stops the start cleanly; a
 * state write that fails undoes the change it was for.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfigText } from "../../tools/vroomd/config.ts";
import { Daemon } from "../../tools/vroomd/daemon.ts";
import { StateDir } from "../../tools/vroomd/state.ts";
import {
  baseConfig,
  collect,
  http,
  inject,
  type Started,
  settle,
  startDaemon,
  TempDir,
} from "./helpers.ts";

let dir: TempDir;
let s: Started | undefined;

beforeEach(() => {
  dir = new TempDir();
});

afterEach(async () => {
  await s?.daemon.stop();
  s = undefined;
  dir.remove();
});

const VR2 = {
  name: "vr2",
  interfaces: [
    { name: "a", layer: "l3", addresses: ["198.18.20.1/24"], link: "m2" },
    { name: "b", layer: "l2", addresses: ["198.18.21.1/24"] },
  ],
  staticRoutes: [{ prefix: "198.18.200.0/24", via: "198.18.20.2" }],
};

async function configOf(text = baseConfig()) {
  const path = dir.file("vroomd.yaml", text);
  const c = parseConfigText(text, path);
  if (!c.ok) throw new Error("bad test config");
  return c.config;
}

describe("state directory across restarts", () => {
  it("brings back an API router with its current bindings and keeps its age", async () => {
    s = await startDaemon(dir, baseConfig());
    const sock = { socket: s.daemon.socketPath };
    expect((await http(sock, "POST", "/v1/routers", VR2)).status).toBe(201);
    const bound = await http(sock, "PUT", "/v1/routers/vr2/interfaces/b/link", { link: "e0" });
    expect(bound.status).toBe(200);
    const since = (await http(sock, "GET", "/v1/routers/vr2")).json.since;
    const owned = JSON.parse(readFileSync(dir.join("state", "owned.json"), "utf8"));
    expect(owned).toMatchObject({
      version: 1,
      hypervisor: "test-hv",
      routers: [
        { name: "vr1", origin: "config" },
        { name: "vr2", origin: "api", since },
      ],
    });
    const stored = JSON.parse(readFileSync(dir.join("state", "routers", "vr2.json"), "utf8"));
    expect(stored.router.interfaces[1].link).toBe("e0");
    await s.daemon.stop();
    expect(existsSync(dir.join("state", "vroomd.lock"))).toBe(false);

    s = await startDaemon(dir, baseConfig());
    const list = await http({ socket: s.daemon.socketPath }, "GET", "/v1/routers");
    expect(
      list.json.routers.map((r: { name: string; origin: string }) => `${r.name}:${r.origin}`),
    ).toEqual(["vr1:config", "vr2:api"]);
    expect((await http({ socket: s.daemon.socketPath }, "GET", "/v1/routers/vr2")).json.since).toBe(
      since,
    );
    expect(s.daemon.hypervisor.binding.lookup("vr2", 0)?.name).toBe("m2");
    expect(s.daemon.hypervisor.binding.lookup("vr2", 1)?.name).toBe("e0");
    // It forwards: in on a (m2), out of a again through its static route's gateway.
    const out = collect(s.daemon, "m2");
    inject(s.daemon, "m2", 3, "198.18.20.2", "198.18.200.5");
    await settle();
    expect(out).toHaveLength(3);
    expect(out[0][8]).toBe(63);
    expect(readdirSync(dir.join("state")).filter((f) => f.includes(".tmp-"))).toEqual([]);
    expect(readdirSync(dir.join("state", "routers"))).toEqual(["vr2.json"]);
  });

  it("does not start a stored router this hypervisor does not own", async () => {
    mkdirSync(dir.join("state", "routers"), { recursive: true });
    writeFileSync(
      dir.join("state", "routers", "vr7.json"),
      JSON.stringify({
        version: 1,
        name: "vr7",
        createdAt: "2020-01-01T00:00:00Z",
        router: { name: "vr7", interfaces: [{ name: "a", layer: "l3" }] },
      }),
    );
    s = await startDaemon(dir, baseConfig());
    expect(s.daemon.router("vr7")).toBeUndefined();
    expect(s.logs.messages()).toContain("stored router not owned by this hypervisor: not started");
  });

  it("refuses to start on a bad stored router, naming the file, and leaves nothing running", async () => {
    mkdirSync(dir.join("state", "routers"), { recursive: true });
    writeFileSync(dir.join("state", "routers", "vr7.json"), "{ not json");
    const config = await configOf();
    await expect(Daemon.start({ config })).rejects.toThrow(/state\/routers\/vr7\.json: not JSON/);
    expect(existsSync(dir.join("vroomd.sock"))).toBe(false);
    expect(existsSync(dir.join("state", "vroomd.lock"))).toBe(false);
    writeFileSync(
      dir.join("state", "routers", "vr7.json"),
      JSON.stringify({ version: 1, name: "other" }),
    );
    await expect(Daemon.start({ config })).rejects.toThrow(
      /vr7\.json: not a stored router named vr7/,
    );
  });

  it("refuses a stored router that the configuration file also has", async () => {
    const store = new StateDir(dir.join("state"));
    await store.open();
    await store.saveRouter({
      version: 1,
      name: "vr1",
      createdAt: "x",
      router: { name: "vr1", interfaces: [{ name: "a", layer: "l3" }] },
    });
    await store.writeOwnership({
      version: 1,
      hypervisor: "test-hv",
      updatedAt: "x",
      routers: [{ name: "vr1", origin: "api", since: "x" }],
    });
    await store.close();
    await expect(Daemon.start({ config: await configOf() })).rejects.toThrow(
      /router vr1 is both in .* and in .*vr1\.json/,
    );
  });

  it("refuses a state directory a live daemon holds, and takes over a stale lock", async () => {
    mkdirSync(dir.join("state"), { recursive: true });
    const sleeper = spawn("sleep", ["30"]);
    try {
      writeFileSync(dir.join("state", "vroomd.lock"), `${sleeper.pid}\n`);
      await expect(Daemon.start({ config: await configOf() })).rejects.toThrow(
        new RegExp(`in use by vroomd pid ${sleeper.pid}`),
      );
    } finally {
      sleeper.kill();
    }
    writeFileSync(dir.join("state", "vroomd.lock"), "999999999\n");
    s = await startDaemon(dir, baseConfig());
    expect(readFileSync(dir.join("state", "vroomd.lock"), "utf8")).toBe(`${process.pid}\n`);
  });

  it("undoes a router creation whose state write fails", async () => {
    s = await startDaemon(dir, baseConfig());
    // The routers directory replaced by a file: writes into it fail.
    rmSync(dir.join("state", "routers"), { recursive: true });
    writeFileSync(dir.join("state", "routers"), "");
    const r = await http({ socket: s.daemon.socketPath }, "POST", "/v1/routers", VR2);
    expect(r.status).toBe(500);
    expect(r.json.error.code, r.json.error.message).toBe("StateWriteFailed");
    expect(r.json.error.message).toMatch(/cannot write .*vr2\.json/);
    expect(s.daemon.router("vr2")).toBeUndefined();
    expect(s.daemon.hypervisor.binding.lookup("vr1", 0)?.name).toBe("m0");
    expect(
      (await http({ socket: s.daemon.socketPath }, "GET", "/v1/links/m2")).json.boundTo,
    ).toBeUndefined();
  });

  it("serialises concurrent writes: the last one wins whole", async () => {
    const store = new StateDir(dir.join("st"));
    await store.open();
    const writes = Array.from({ length: 20 }, (_, i) =>
      store.saveRouter({
        version: 1,
        name: "r",
        createdAt: String(i),
        router: { name: "r", pad: "x".repeat(i * 1000) },
      }),
    );
    await Promise.all(writes);
    const back = await store.readRouters();
    expect(back).toHaveLength(1);
    expect(back[0].createdAt).toBe("19");
    expect(readdirSync(dir.join("st", "routers"))).toEqual(["r.json"]);
    await store.deleteRouter("r");
    expect(await store.readRouters()).toEqual([]);
    await store.close();
  });
});
