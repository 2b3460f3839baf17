/**
 * Reloads (SIGHUP, `vroomctl reload`): only what changed is applied — a
 * router whose section did not change keeps running, forwarding and
 * counting through the reload; a changed one is rebuilt; bindings, links
 * and switching rules follow the file — and a new file that is invalid,
 * changes what needs a restart, or that the hypervisor refuses is refused
 * whole, with file:line, leaving the old configuration running. Then the
 * real `vroomd` program (tools/bin/vroomd) with memory links: SIGHUP
 * reloads, SIGTERM exits 0 and removes the socket.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { nativeAvailable } from "../../hypervisor/native.ts";
import { parseConfigText } from "../../tools/vroomd/config.ts";
import { canonical, diffConfigs } from "../../tools/vroomd/reload.ts";
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
let s: Started;

beforeEach(async () => {
  dir = new TempDir();
  s = await startDaemon(dir, baseConfig());
});

afterEach(async () => {
  await s?.daemon.stop();
  dir.remove();
});

const VR2 = `  - name: vr2
    interfaces:
      - { name: a, layer: l3, addresses: ["198.18.30.1/24"], link: m2 }
`;

function rewrite(text: string): void {
  writeFileSync(s.file, text);
}

function counters(name: string) {
  const r = s.daemon.router(name);
  if (r === undefined) throw new Error(`no router ${name}`);
  return r.counters().interfaces as Record<string, { rxPackets: number; txPackets: number }>;
}

describe("reload applies only what changed", () => {
  it("keeps an unchanged router running, forwarding and counting, while a router is added", async () => {
    const out = collect(s.daemon, "m1");
    const vr1 = s.daemon.router("vr1");
    inject(s.daemon, "m0", 10, "198.18.10.2", "198.18.100.1");
    await settle();
    expect(counters("vr1").eth0.rxPackets).toBe(10);

    rewrite(baseConfig(VR2));
    const report = await s.daemon.reload();
    expect(report.ok).toBe(true);
    expect(report.changes).toEqual(["router vr2 added"]);
    expect(s.daemon.router("vr1")).toBe(vr1); // the same object: not rebuilt
    expect(counters("vr1").eth0.rxPackets).toBe(10); // counters kept
    inject(s.daemon, "m0", 5, "198.18.10.2", "198.18.100.1");
    await settle();
    expect(out).toHaveLength(15);
    expect(counters("vr1").eth0.rxPackets).toBe(15);
    expect(s.daemon.hypervisor.binding.lookup("vr2", 0)?.name).toBe("m2");
  });

  it("rebuilds a router whose section changed, and re-binds its links", async () => {
    const out = collect(s.daemon, "m1");
    inject(s.daemon, "m0", 3, "198.18.10.2", "198.18.100.1");
    await settle();
    expect(out).toHaveLength(3);
    out.length = 0;
    const before = s.daemon.router("vr1");
    rewrite(baseConfig().replace("198.18.100.0/24", "198.18.101.0/24"));
    const report = await s.daemon.reload();
    expect(report.changes).toEqual(["router vr1 rebuilt (staticRoutes changed)"]);
    const after = s.daemon.router("vr1");
    expect(after).not.toBe(before);
    expect(counters("vr1").eth0.rxPackets).toBe(0);
    inject(s.daemon, "m0", 2, "198.18.10.2", "198.18.101.7");
    inject(s.daemon, "m0", 2, "198.18.10.2", "198.18.100.7"); // gone
    await settle();
    expect(out).toHaveLength(2);
  });

  it("moves only a changed binding, without rebuilding the router", async () => {
    const vr1 = s.daemon.router("vr1");
    rewrite(
      baseConfig().replace(
        'addresses: ["198.18.11.1/24"], link: m1',
        'addresses: ["198.18.11.1/24"], link: m2',
      ),
    );
    const report = await s.daemon.reload();
    expect(report.changes).toEqual(["vr1/eth1 rebound from m1 to m2"]);
    expect(s.daemon.router("vr1")).toBe(vr1);
    const out = collect(s.daemon, "m2");
    inject(s.daemon, "m0", 4, "198.18.10.2", "198.18.100.1");
    await settle();
    expect(out).toHaveLength(4);
    // And unbinding by removing the key.
    rewrite(baseConfig().replace(", link: m1", ""));
    expect((await s.daemon.reload()).changes).toEqual(["vr1/eth1 unbound from m2"]);
    expect(s.daemon.hypervisor.binding.lookup("vr1", 1)).toBeUndefined();
  });

  it("adds and removes links and switching rules, replaces a changed link and keeps its binding", async () => {
    const vr1 = s.daemon.router("vr1");
    const extra = `  - { name: m3, kind: memory, layer: l3 }\nswitching:\n  - { from: m2, to: m3 }\n`;
    rewrite(
      baseConfig().replace("routers:", `${extra.split("switching:")[0]}routers:`) +
        `switching:\n  - { from: m2, to: m3 }\n`,
    );
    let report = await s.daemon.reload();
    expect(report.ok).toBe(true);
    expect(report.changes).toEqual(["link m3 (memory) added", "switching m2 -> m3 added"]);
    expect(s.daemon.switchingRules()).toEqual([{ from: "m2", to: "m3", origin: "config" }]);

    // m1 gets a new peer name: the link is replaced and vr1/eth1 bound to the new one.
    rewrite(
      baseConfig().replace(
        "{ name: m1, kind: memory, layer: l3 }",
        "{ name: m1, kind: memory, layer: l3, peer: far1 }",
      ),
    );
    report = await s.daemon.reload();
    expect(report.changes).toEqual([
      "link m3 removed",
      "link m1 replaced (settings changed)",
      "switching m2 -> m3 removed",
    ]);
    expect(s.daemon.router("vr1")).toBe(vr1);
    expect(s.daemon.hypervisor.binding.lookup("vr1", 1)?.name).toBe("m1");
    expect(s.daemon.hypervisor.links.has("m3")).toBe(false);
    const out = collect(s.daemon, "m1");
    inject(s.daemon, "m0", 3, "198.18.10.2", "198.18.100.1");
    await settle();
    expect(out).toHaveLength(3);
  });

  it.skipIf(!nativeAvailable())(
    "frees a removed link's VNI for a link added in the same reload",
    async () => {
      await s.daemon.stop();
      const withVxlan = (name: string) =>
        baseConfig().replace(
          "links:",
          `vxlan: { listen: "127.0.0.1:0" }\nlinks:\n  - { name: ${name}, kind: vxlan, vni: 7, remotes: ["127.0.0.1"] }`,
        );
      s = await startDaemon(dir, withVxlan("vxa"));
      rewrite(withVxlan("vxb"));
      const report = await s.daemon.reload();
      expect(report.errors).toEqual([]);
      expect(report.changes).toEqual(["link vxa removed", "link vxb (vxlan) added"]);
      expect(s.daemon.links().find((l) => l.name === "vxb")?.vni).toBe(7);
    },
  );

  it("reports a reload that changes nothing, and applies a new log level", async () => {
    expect((await s.daemon.reload()).changes).toEqual([]);
    rewrite(baseConfig().replace("log: { level: info }", "log: { level: debug }"));
    expect((await s.daemon.reload()).changes).toEqual(["log level set to debug"]);
    expect(s.daemon.logger.level).toBe("debug");
  });
});

describe("reload refuses a bad configuration whole", () => {
  async function refused(text: string): Promise<string[]> {
    const vr1 = s.daemon.router("vr1");
    const links = s.daemon.hypervisor.links.names().sort();
    rewrite(text);
    const report = await s.daemon.reload();
    expect(report.ok).toBe(false);
    expect(report.changes).toEqual([]);
    expect(s.daemon.router("vr1")).toBe(vr1);
    expect(s.daemon.hypervisor.links.names().sort()).toEqual(links);
    expect(s.daemon.lastReload).toBe(report);
    return report.errors;
  }

  it("refuses a file with errors, naming file:line, and keeps forwarding", async () => {
    const errors = await refused(
      `${baseConfig(VR2)}  - name: vr3\n    interfaces: [{ name: x, layer: l3, mtu: 5 }]\n`,
    );
    expect(errors).toEqual([
      expect.stringMatching(/vroomd\.yaml:22:45: routers\.2\.interfaces\.0\.mtu: Too small/),
    ]);
    expect(s.daemon.router("vr2")).toBeUndefined(); // nothing of the new file applied
    expect(s.logs.lines.some((l) => String(l.msg).match(/vroomd\.yaml:22:45: routers\.2/))).toBe(
      true,
    );
    const out = collect(s.daemon, "m1");
    inject(s.daemon, "m0", 2, "198.18.10.2", "198.18.100.1");
    await settle();
    expect(out).toHaveLength(2);
    const status = await http({ socket: s.daemon.socketPath }, "GET", "/v1/status");
    expect(status.json.lastReload).toMatchObject({ ok: false });
    const metrics = await http({ socket: s.daemon.socketPath }, "GET", "/metrics");
    expect(metrics.text).toMatch(
      /vroom_config_reloads_total\{result="refused",hypervisor="test-hv"\} 1/,
    );
    expect(metrics.text).toMatch(/vroom_config_last_reload_successful\{hypervisor="test-hv"\} 0/);
  });

  it("refuses a change that needs a restart, naming the field and line", async () => {
    const errors = await refused(baseConfig(VR2).replace("./vroomd.sock", "./other.sock"));
    expect(errors).toEqual([
      expect.stringMatching(
        /vroomd\.yaml:4:18: hypervisor\.api\.socket: cannot change while vroomd runs: restart it/,
      ),
    ]);
    expect(s.daemon.router("vr2")).toBeUndefined();
  });

  it("undoes every step when the hypervisor refuses one, and names the line", async () => {
    // An API router takes m2; the new file adds a link and binds a new router to m2.
    const api = await http({ socket: s.daemon.socketPath }, "POST", "/v1/routers", {
      name: "vapi",
      interfaces: [{ name: "a", layer: "l3", link: "m2" }],
    });
    expect(api.status).toBe(201);
    const text = baseConfig(VR2).replace("routers:", "  - { name: m9, kind: memory }\nrouters:");
    const errors = await refused(text);
    expect(errors).toEqual([
      expect.stringMatching(
        /vroomd\.yaml:\d+:\d+: routers\.1\.interfaces\.0\.link: bind vr2\/a to m2: link m2 already carries vapi\/a/,
      ),
    ]);
    expect(s.daemon.hypervisor.links.has("m9")).toBe(false); // the link it had added is gone again
    expect(s.daemon.router("vr2")).toBeUndefined();
    expect(s.daemon.hypervisor.binding.lookup("vapi", 0)?.name).toBe("m2");
  });

  it("refuses a configuration router named like an API router", async () => {
    await http({ socket: s.daemon.socketPath }, "POST", "/v1/routers", {
      name: "vr2",
      interfaces: [{ name: "a", layer: "l3" }],
    });
    const errors = await refused(baseConfig(VR2));
    expect(errors).toEqual([
      expect.stringMatching(
        /vroomd\.yaml:18:11: routers\.1\.name: router vr2 exists, created through the API: delete it first/,
      ),
    ]);
  });

  it("refuses an unreadable file", async () => {
    const errors = await refused(":\n  - [");
    expect(errors[0]).toMatch(/vroomd\.yaml:\d+:\d+: \(config\): /);
  });
});

describe("configuration diff", () => {
  it("treats sections that build the same router as unchanged", () => {
    const a = parseConfigText(baseConfig(), "/x/a.yaml");
    const b = parseConfigText(
      baseConfig().replace(
        'addresses: ["198.18.10.1/24"]',
        'addresses: ["198.18.10.1/24"], mtu: 1500',
      ),
      "/x/a.yaml",
    );
    if (!a.ok || !b.ok) throw new Error("bad test config");
    const d = diffConfigs(a.config, b.config, { vxlanOpen: false });
    expect(d.routers.kept.map((k) => k.next.name)).toEqual(["vr1"]);
    expect(d.routers.rebuilt).toEqual([]);
  });

  it("writes plain data canonically", () => {
    expect(canonical({ b: 1, a: Uint32Array.of(1, 2), c: new Map([[1, new Set([2])]]) })).toBe(
      '{"a":[1,2],"b":1,"c":[[1,[2]]]}',
    );
  });
});

describe("the vroomd program", () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child !== undefined && child.exitCode === null) child.kill("SIGKILL");
    child = undefined;
  });

  it("reloads on SIGHUP, refuses a bad file on SIGHUP, and exits 0 on SIGTERM removing its socket", async () => {
    await s.daemon.stop();
    const file = join(dir.path, "prog.yaml");
    writeFileSync(
      file,
      baseConfig().replace("./state", "./state-prog").replace("./vroomd.sock", "./prog.sock"),
    );
    const sock = { socket: join(dir.path, "prog.sock") };
    child = spawn(
      process.execPath,
      [join(import.meta.dirname, "../../tools/bin/vroomd"), "-c", file],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise<number | null>((r) => child!.on("exit", (code) => r(code)));
    const deadline = Date.now() + 20_000;
    while (!existsSync(sock.socket)) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`vroomd did not start:\n${out}`);
      await settle(50);
    }
    expect((await http(sock, "GET", "/v1/routers")).json.routers).toHaveLength(1);
    expect(out).toMatch(/"msg":"vroomd started"/);

    writeFileSync(
      file,
      baseConfig(VR2).replace("./state", "./state-prog").replace("./vroomd.sock", "./prog.sock"),
    );
    child.kill("SIGHUP");
    const waitReload = async () => {
      for (let i = 0; i < 200; i++) {
        const st = await http(sock, "GET", "/v1/status");
        if (st.json.lastReload !== null && st.json.lastReload.at !== last)
          return st.json.lastReload;
        await settle(25);
      }
      throw new Error(`no reload:\n${out}`);
    };
    let last: string | undefined;
    const first = await waitReload();
    expect(first).toMatchObject({ ok: true, changes: ["router vr2 added"] });
    last = first.at;

    writeFileSync(file, "links: [\n");
    child.kill("SIGHUP");
    const second = await waitReload();
    expect(second.ok).toBe(false);
    expect(second.errors[0]).toMatch(/prog\.yaml:2:1: /);
    expect(out).toMatch(/prog\.yaml:2:1: /);
    expect((await http(sock, "GET", "/v1/routers")).json.routers).toHaveLength(2);

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(existsSync(sock.socket)).toBe(false);
    expect(existsSync(join(dir.path, "state-prog", "vroomd.lock"))).toBe(false);
    expect(out).toMatch(/"msg":"vroomd stopped"/);
  });

  it("exits 1 with file:line on a bad configuration, and --check says so without starting", async () => {
    const bad = join(dir.path, "bad.yaml");
    writeFileSync(bad, "links:\n  - { name: a, kind: nope }\n");
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn(
          process.execPath,
          [join(import.meta.dirname, "../../tools/bin/vroomd"), ...args],
          {
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
        let out = "";
        c.stdout.on("data", (b: Buffer) => {
          out += b.toString();
        });
        c.stderr.on("data", (b: Buffer) => {
          out += b.toString();
        });
        c.on("exit", (code) => resolve({ code, out }));
      });
    const r = await run(["-c", bad]);
    expect(r.code).toBe(1);
    expect(r.out).toBe(
      `vroomd: ${bad}:2:22: links.0.kind: must be one of: tun, tap, vxlan, memory\n`,
    );
    const good = join(dir.path, "good.yaml");
    writeFileSync(good, baseConfig());
    const c = await run(["-c", good, "--check"]);
    expect(c.code).toBe(0);
    expect(c.out).toBe(`${good}: ok (4 links, 1 routers, 0 switching rules)\n`);
  });
});
