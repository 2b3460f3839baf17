/**
 * The real `vroomd` program (tools/bin/vroomd) on the real kernel (root):
 * started in a fresh namespace with a TUN-based configuration, it creates
 * the devices, which the test moves into two host namespaces A and B; A
 * pings B through the router; a SIGHUP reload that adds a second router
 * and a third TUN device leaves the first router forwarding (a ping
 * running through the reload loses nothing) with its counters; SIGTERM
 * makes it exit 0 and the devices it created are gone from every
 * namespace, as is its socket.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canRun, Lab, ping, run, sh, warnIfSkipped } from "../integration/lab.ts";
import { http, settle, TempDir } from "./helpers.ts";

warnIfSkipped("test/tools/vroomd.root.test.ts");

const lab = new Lab("d");

describe.skipIf(!canRun)("vroomd over TUN devices (root, real kernel)", () => {
  let dir: TempDir | undefined;
  let child: ChildProcess | undefined;

  afterAll(() => {
    try {
      if (child !== undefined && child.exitCode === null && child.signalCode === null)
        child.kill("SIGKILL");
      lab.cleanup();
    } finally {
      lab.sweep();
      dir?.remove();
    }
  });

  it("pings through a router, reloads without loss, and removes its devices on SIGTERM", async () => {
    dir = new TempDir();
    const nsH = lab.ns();
    const nsA = lab.ns();
    const nsB = lab.ns();
    const devA = lab.dev("t");
    const devB = lab.dev("t");
    const devC = lab.dev("t");
    const socket = dir.join("vroomd.sock");
    const config = (extra: string) => `hypervisor:
  name: root-test
  stateDir: ${dir!.join("state")}
  api: { socket: ${socket} }
links:
  - { name: tun-a, kind: tun, device: ${devA} }
  - { name: tun-b, kind: tun, device: ${devB} }
${extra.includes("vr2") ? `  - { name: tun-c, kind: tun, device: ${devC} }\n` : ""}routers:
  - name: vr1
    interfaces:
      - { name: a, layer: l3, addresses: ["198.18.40.1/24"], link: tun-a }
      - { name: b, layer: l3, addresses: ["198.18.41.1/24"], link: tun-b }
${extra}`;
    const file = dir.file("vroomd.yaml", config(""));
    child = spawn(
      "ip",
      [
        "netns",
        "exec",
        nsH,
        process.execPath,
        join(import.meta.dirname, "../../tools/bin/vroomd"),
        "-c",
        file,
      ],
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
    const deadline = Date.now() + 30_000;
    while (!existsSync(socket)) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`vroomd did not start:\n${out}`);
      await settle(50);
    }
    // The daemon made both devices in its namespace; hand them to the hosts.
    expect(sh("ip", ["-n", nsH, "-o", "link", "show", devA])).toContain(devA);
    sh("ip", ["-n", nsH, "link", "set", "dev", devA, "netns", nsA]);
    sh("ip", ["-n", nsH, "link", "set", "dev", devB, "netns", nsB]);
    // Moving a device takes it down; the router's side does not care, the hosts bring theirs up.
    lab.setup(nsA, devA, {
      addresses: ["198.18.40.2/24"],
      routes: [["198.18.0.0/15", "dev", devA]],
    });
    lab.setup(nsB, devB, {
      addresses: ["198.18.41.2/24"],
      routes: [["198.18.0.0/15", "dev", devB]],
    });

    const p = await ping(nsA, "198.18.41.2", { count: 5, interval: 0.1 });
    expect(p.received, p.out).toBe(5);
    const before = (await http({ socket }, "GET", "/v1/routers/vr1/interfaces")).json.interfaces[0]
      .counters.rxPackets;
    expect(before).toBeGreaterThanOrEqual(5);

    // A ping running through a SIGHUP reload that adds a router and a device.
    const during = ping(nsA, "198.18.41.2", { count: 150, interval: 0.01 });
    await settle(400);
    writeFileSync(
      file,
      config(`  - name: vr2
    interfaces:
      - { name: c, layer: l3, addresses: ["198.18.42.1/24"], link: tun-c }
`),
    );
    child.kill("SIGHUP");
    let reload: { ok: boolean; changes: string[] } | null = null;
    for (let i = 0; i < 200 && reload === null; i++) {
      reload = (await http({ socket }, "GET", "/v1/status")).json.lastReload;
      if (reload === null) await settle(25);
    }
    expect(reload).toMatchObject({
      ok: true,
      changes: ["link tun-c (tun) added", "router vr2 added"],
    });
    const r = await during;
    expect(r.transmitted, r.out).toBe(150);
    expect(r.received, r.out).toBe(150);
    const after = (await http({ socket }, "GET", "/v1/routers/vr1/interfaces")).json.interfaces[0]
      .counters.rxPackets;
    expect(after).toBeGreaterThanOrEqual(before + 150); // the same router, counting on
    expect(sh("ip", ["-n", nsH, "-o", "link", "show", devC])).toContain(devC);

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
    for (const [ns, dev] of [
      [nsA, devA],
      [nsB, devB],
      [nsH, devC],
    ]) {
      const shown = await run("ip", ["-n", ns, "link", "show", dev]);
      expect(shown.code, `${dev} in ${ns}: ${shown.out}`).not.toBe(0);
    }
    expect(out).toMatch(/"msg":"vroomd stopped"/);
  });
});
