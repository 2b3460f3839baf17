/**
 * The real `vroomd` (tools/bin/vroomd) peering with a real BIRD 2 on the
 * real kernel (root): the daemon runs in namespace H with a TUN link on a
 * persistent device the test made there and then moves into namespace P,
 * where BIRD (AS 65002, passive, not watching the link's carrier) waits
 * for the router (AS 65001). vroomctl shows the session Established
 * and BIRD's route; then SIGTERM: vroomd sends BIRD a Cease NOTIFICATION
 * (Administrative Shutdown, "vroomd shutting down") and closes the TCP
 * connection before the device goes, exits 0, and BIRD's `show protocols
 * all` reports the Cease it received as the last error.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BirdPeer, birdConfig } from "../../tools/peers/bird.ts";
import { canRun, Lab, sh, warnIfSkipped } from "../integration/lab.ts";
import { settle, TempDir, vroomctl } from "./helpers.ts";

warnIfSkipped("test/tools/vroomd-bgp.root.test.ts");
const hasBird = (() => {
  try {
    sh("bird", ["--version"]);
    return true;
  } catch {
    return false;
  }
})();
if (canRun && !hasBird) {
  console.warn(
    "test/tools/vroomd-bgp.root.test.ts: skipped: BIRD 2 is not installed (bash tools/setup.sh)",
  );
}

const lab = new Lab("q");

describe.skipIf(!canRun || !hasBird)(
  "vroomd with a BGP router and BIRD (root, real kernel)",
  () => {
    let dir: TempDir | undefined;
    let child: ChildProcess | undefined;
    let bird: BirdPeer | undefined;

    afterAll(async () => {
      try {
        if (child !== undefined && child.exitCode === null && child.signalCode === null)
          child.kill("SIGKILL");
        await bird?.stop();
        lab.cleanup();
      } finally {
        lab.sweep();
        dir?.remove();
      }
    });

    it("peers with BIRD, shows it through vroomctl, and sends BIRD a Cease on SIGTERM", async () => {
      dir = new TempDir();
      const nsH = lab.ns();
      const nsP = lab.ns();
      const dev = lab.dev("t");
      const socket = dir.join("vroomd.sock");
      // A persistent device: it outlives vroomd's fd, so BIRD's last error stays the Cease it
      // received (a device that vanished would make it "Neighbor lost").
      sh("ip", ["-n", nsH, "tuntap", "add", "dev", dev, "mode", "tun"]);
      const file = dir.file(
        "vroomd.yaml",
        `hypervisor:
  name: bgp-root
  stateDir: ${dir.join("state")}
  api: { socket: ${socket} }
links:
  - { name: tun-p, kind: tun, device: ${dev} }
routers:
  - name: vr1
    interfaces:
      - { name: p, layer: l3, addresses: ["198.18.45.1/24"], link: tun-p }
    bgp:
      asn: 65001
      routerId: 198.18.45.1
      connectRetryTime: 1
      idleHoldTime: 1
      neighbors:
        - { address: 198.18.45.2, asn: 65002, families: [ipv4], import: accept, export: accept }
`,
      );
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
        { stdio: ["ignore", "pipe", "pipe"] },
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
      sh("ip", ["-n", nsH, "link", "set", "dev", dev, "netns", nsP]);
      lab.setup(nsP, dev, { addresses: ["198.18.45.2/24"] });
      sh("ip", ["-n", nsP, "addr", "add", "198.19.45.1/24", "dev", "lo"]);
      bird = await BirdPeer.start(
        nsP,
        dir.join("bird"),
        birdConfig({
          routerId: "198.18.45.2",
          as: 65002,
          staticRoutes: ["198.19.45.0/24"],
          neighbors: [
            {
              name: "vr1",
              address: "198.18.45.1",
              localAddress: "198.18.45.2",
              as: 65001,
              passive: true,
              channels: ["ipv4"],
              extra: ["check link off;"],
            },
          ],
        }),
      );
      await bird.established("vr1", 20_000);

      const ctl = (...args: string[]) => vroomctl(["--socket", socket, ...args]);
      let shown = await ctl("show", "bgp", "vr1");
      for (let i = 0; i < 100 && !shown.out.includes("198.19.45.0/24"); i++) {
        await settle(50);
        shown = await ctl("show", "bgp", "vr1");
      }
      expect(shown.out).toMatch(
        /198\.19\.45\.0\/24 +unicast \[198\.18\.45\.2\] \* \(20\) \[AS65002i\]/,
      );
      expect(shown.out).toContain("\tvia 198.18.45.2 on p");
      const protocols = await ctl("show", "protocols", "vr1");
      expect(protocols.code).toBe(0);
      expect(protocols.out.split("\n")[1]).toMatch(/^198\.18\.45\.2 +BGP +--- +up +.*Established$/);

      const t0 = Date.now();
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(out).toMatch(/"msg":"BGP session down"/);
      expect(out).toMatch(/"msg":"BGP sessions closed"/);
      expect(out).toMatch(/"msg":"vroomd stopped"/);

      const text = await bird.birdc("show", "protocols", "all", "vr1");
      const p = await bird.protocol("vr1");
      expect(p.bgpState, text).not.toBe("Established");
      expect(p.lastError, `${text}\n${bird.daemon.log}`).toBe("Received: Administrative shutdown");
      expect(text).toMatch(/Message: +vroomd shutting down/);
      expect(bird.daemon.log).toMatch(/vr1: Received: Administrative shutdown/);
    });
  },
);
