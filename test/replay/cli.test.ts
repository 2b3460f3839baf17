import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { runVroom } from "../../tools/vroom/cli.ts";
import { ip4, ipv4Packet, ipv6Packet } from "../router/packets.ts";
import { pcapFile } from "./captures.ts";

const dir = mkdtempSync(join(tmpdir(), "vroom-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const YAML = `hypervisor: { name: test }
routers:
  - name: vr1
    interfaces:
      - { name: eth0, layer: l3, addresses: ["198.18.10.1/24", "2001:db8:10::1/64"] }
      - { name: eth1, layer: l2, addresses: ["198.18.20.1/24"] }
    staticRoutes:
      - { prefix: 198.18.30.0/24, via: 198.18.20.2 }
  - name: vr2
    interfaces:
      - { name: t0, layer: l3, addresses: ["198.18.50.1/24"] }
`;
const config = join(dir, "vroomd.yaml");
writeFileSync(config, YAML);
const badConfig = join(dir, "bad.yaml");
writeFileSync(badConfig, YAML.replace("layer: l2", "layer: l7"));

const records = [
  ipv4Packet({ src: "198.18.10.9", dst: "198.18.30.5" }),
  ipv4Packet({ src: "198.18.10.9", dst: "198.18.30.5", ttl: 1 }),
  ipv4Packet({ src: "198.18.10.9", dst: "203.0.113.1" }),
  ipv6Packet({ src: "2001:db8:10::9", dst: "2001:db8:77::1" }),
  ipv4Packet({ src: "198.18.10.9", dst: "198.18.20.2" }),
].map((data, i) => ({ data, sec: 100 + i }));
const capture = join(dir, "in.pcap");
const captureBytes = pcapFile(records);
writeFileSync(capture, captureBytes);
const truncated = join(dir, "cut.pcap");
writeFileSync(truncated, captureBytes.subarray(0, captureBytes.length - 3));
const prefixes = join(dir, "table.txt");
writeFileSync(prefixes, "203.0.113.0/24\n2001:db8:77::/48\n");

async function vroom(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runVroom(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

const NEIGHBOR = ["--neighbor", "eth1,198.18.20.2,02:00:00:00:20:02"];

describe("vroom replay", () => {
  it("prints one JSON object with the verdicts and rates, and writes each interface's pcap", async () => {
    const out = join(dir, "json");
    const r = await vroom(
      "replay",
      "--config",
      config,
      "--router",
      "vr1",
      "--in",
      capture,
      "--out",
      out,
      "--json",
      ...NEIGHBOR,
    );
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n")).toHaveLength(1);
    const s = JSON.parse(r.out);
    expect(s).toMatchObject({
      router: "vr1",
      packets: 5,
      injected: 5,
      forwarded: 2,
      dropped: 3,
      dropReasons: { "ttl-expired": 1, "no-route": 2 },
      interfaces: {
        eth0: { received: 5, icmpErrors: 3, drops: { "ttl-expired": 1, "no-route": 2 } },
        eth1: { forwarded: 2, file: join(out, "eth1.pcap") },
      },
    });
    for (const key of ["packetsPerSec", "forwardPacketsPerSec", "seconds", "forwardSeconds"]) {
      expect(typeof s[key]).toBe("number");
      expect(s[key]).toBeGreaterThan(0);
    }
    expect(existsSync(join(out, "eth0.pcap")) && existsSync(join(out, "eth1.pcap"))).toBe(true);
  });

  it("prints a text summary, and takes the only router of a file without --router", async () => {
    const one = join(dir, "one.yaml");
    writeFileSync(one, YAML.slice(0, YAML.indexOf("  - name: vr2")));
    const r = await vroom(
      "replay",
      "--config",
      one,
      "--in",
      capture,
      "--out",
      join(dir, "text"),
      ...NEIGHBOR,
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^replayed .*in\.pcap \(pcap\) through router vr1: 5 packets, 5 injected\n/,
    );
    expect(r.out).toMatch(/\nforwarded 2: eth1 2\n/);
    expect(r.out).toMatch(/\ndropped 3: no-route 2, ttl-expired 1\n/);
    expect(r.out).toMatch(/\nrate: .* packets\/s end to end .*forwarding alone/);
  });

  it("replays a truncated capture up to the fault, prints the summary and exits 3", async () => {
    const r = await vroom(
      "replay",
      "--config",
      config,
      "--router",
      "vr1",
      "--in",
      truncated,
      "--out",
      join(dir, "cut"),
      "--json",
      ...NEIGHBOR,
    );
    expect(r.code).toBe(3);
    const s = JSON.parse(r.out);
    expect(s.packets).toBe(4);
    expect(s.error).toMatchObject({
      packet: 5,
      offset: captureBytes.length - records[4].data.length - 16,
    });
    expect(r.err).toBe(
      `vroom replay: ${truncated}: packet 5 at byte ${s.error.offset}: record truncated (44 bytes of packet data, 41 left)\n`,
    );
  });

  it("answers bad command lines with one line and status 2", async () => {
    const cases: [string[], RegExp][] = [
      [
        ["replay", "--config", config, "--out", dir],
        /^vroom: required option '--in <capture>' not specified\n$/,
      ],
      [
        ["replay", "--in", capture, "--out", dir],
        /^vroom replay: give the router with either --config FILE/,
      ],
      [
        ["replay", "--config", config, "--snapshot", "x", "--in", capture, "--out", dir],
        /either --config FILE/,
      ],
      [
        ["replay", "--config", config, "--in", capture, "--out", dir, "--neighbor", "eth1,1.2.3.4"],
        /--neighbor eth1,1\.2\.3\.4: give IFACE,IP,MAC/,
      ],
      [
        ["replay", "--config", config, "--in", capture, "--out", dir, "--map", "=eth0"],
        /--map =eth0: give captureIf=routerIf/,
      ],
      [
        ["replay", "--config", config, "--in", capture, "--out", dir, "--batch", "0"],
        /--batch 0: give a whole number from 1 to 4096/,
      ],
      [["replay", "--in", capture, "--out", dir, "--bogus"], /^vroom: unknown option '--bogus'/],
      [["frobnicate"], /^vroom: unknown command 'frobnicate'/],
    ];
    for (const [argv, message] of cases) {
      const r = await vroom(...argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err, argv.join(" ")).toMatch(message);
      expect(r.err.trim().split("\n"), argv.join(" ")).toHaveLength(1);
      expect(r.out).toBe("");
    }
  });

  it("answers bad files and values with one line each and status 1", async () => {
    const base = ["--in", capture, "--out", join(dir, "bad")];
    const cases: [string[], RegExp][] = [
      [
        ["--config", join(dir, "none.yaml"), ...base],
        /^vroom replay: .*none\.yaml:0:0: \(config\): cannot read the file: no such file\n$/,
      ],
      [
        ["--config", badConfig, "--router", "vr1", ...base],
        /^vroom replay: .*bad\.yaml:\d+:\d+: routers\.0\.interfaces\.1\.layer: /,
      ],
      [["--config", config, ...base], /has 2 routers \(vr1, vr2\): name one with --router/],
      [["--config", config, "--router", "vr9", ...base], /no router 'vr9' \(routers: vr1, vr2\)/],
      [
        ["--config", config, "--router", "vr1", "--in", join(dir, "nothing.pcap"), "--out", dir],
        /nothing\.pcap: no such file or directory/,
      ],
      [
        ["--config", config, "--router", "vr1", "--in", config, "--out", dir],
        /vroomd\.yaml: not a pcap or pcapng file \(magic 0x68797065\)/,
      ],
      [
        ["--config", config, "--router", "vr1", "--interface", "eth5", ...base],
        /router vr1 has no interface 'eth5' \(it has eth0, eth1\)/,
      ],
      [
        ["--config", config, "--router", "vr1", "--neighbor", "eth1,198.18.20.2,zz", ...base],
        /'zz' is not a MAC address/,
      ],
      [
        ["--snapshot", join(dir, "nosnap.json"), ...base],
        /nosnap\.json: no such file or directory/,
      ],
    ];
    for (const [argv, message] of cases) {
      const r = await vroom("replay", ...argv);
      expect(r.code, argv.join(" ")).toBe(1);
      expect(r.err, argv.join(" ")).toMatch(message);
      expect(r.err.trim().split("\n"), argv.join(" ")).toHaveLength(1);
    }
  });
});

describe("vroom snapshot", () => {
  it("saves a router with a table of routes, which replay --snapshot then uses", async () => {
    const snap = join(dir, "vr1.json");
    const s = await vroom(
      "snapshot",
      "--config",
      config,
      "--router",
      "vr1",
      "--out",
      snap,
      "--routes",
      prefixes,
      "--via",
      "198.18.20.2",
      "--via",
      "2001:db8:10::2",
    );
    expect(s.err).toBe("");
    expect(s.code).toBe(0);
    expect(s.out).toBe(
      `wrote ${snap}: router vr1, 2 interfaces, 1 static routes, 2 more routes (1 IPv4 and 1 IPv6 from --routes)\n`,
    );
    const r = await vroom(
      "replay",
      "--snapshot",
      snap,
      "--in",
      capture,
      "--out",
      join(dir, "snap"),
      "--json",
      ...NEIGHBOR,
    );
    expect(r.err).toBe("");
    const summary = JSON.parse(r.out);
    // 203.0.113.1 now goes to eth1 via 198.18.20.2; 2001:db8:77::1 back out of eth0 via 2001:db8:10::2.
    expect(summary.dropReasons).toEqual({ "ttl-expired": 1 });
    expect(summary.interfaces.eth1.forwarded).toBe(3);
    expect(summary.interfaces.eth0.forwarded).toBe(1);
    expect(ip4("203.0.113.1")).toBeGreaterThan(0);
  });

  it("refuses a table without a gateway for its family", async () => {
    const r = await vroom(
      "snapshot",
      "--config",
      config,
      "--router",
      "vr1",
      "--out",
      join(dir, "x.json"),
      "--routes",
      prefixes,
      "--via",
      "198.18.20.2",
    );
    expect(r.code).toBe(1);
    expect(r.err).toBe(`vroom snapshot: ${prefixes}:2: an IPv6 prefix, and no IPv6 --via\n`);
    const u = await vroom(
      "snapshot",
      "--config",
      config,
      "--out",
      join(dir, "x.json"),
      "--routes",
      prefixes,
    );
    expect(u.code).toBe(2);
    expect(u.err).toBe("vroom snapshot: --routes needs --via GATEWAY (one per address family)\n");
  });
});

describe("the installed vroom program", () => {
  const bin = fileURLToPath(new URL("../../tools/bin/vroom", import.meta.url));
  const run = (argv: string[]) =>
    new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(
        process.execPath,
        [bin, ...argv],
        { encoding: "utf8", timeout: 30_000 },
        (e, out, err) =>
          resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, out, err }),
      );
    });

  it("runs replay with --json and exits with its status", async () => {
    const ok = await run([
      "replay",
      "--config",
      config,
      "--router",
      "vr1",
      "--in",
      capture,
      "--out",
      join(dir, "bin"),
      "--json",
      ...NEIGHBOR,
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ packets: 5, forwarded: 2, dropped: 3 });
    const bad = await run([
      "replay",
      "--config",
      config,
      "--router",
      "nope",
      "--in",
      capture,
      "--out",
      dir,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^vroom replay: .*no router 'nope'/);
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/replay .*\n.*snapshot/s);
  });
});
