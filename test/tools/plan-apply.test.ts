/**
 * `vroomctl plan apply --hosts FILE` on live vroomd daemons: three daemons
 * in this process (pr1, pr2, pr3 on 127.0.0.1-3, VXLAN segments on
 * loopback, PSK migration channels between every pair) run small routers
 * without BGP; the planner's network calls their hosts a1, a2 (PoP A) and
 * b1 (PoP B), and the hosts file maps each to its daemon's socket and peer
 * name. vr1 and vr2 run on a1, vr3 on a2, and vr1 is linked to vr3, so
 * evacuating a1 sends vr1 to a2 and vr2 to b1: two live migrations.
 *
 * Covered: the plan carried out live (routers end where the plan says, on
 * the daemons too); a migration the target refuses (no segment for the
 * router there) stops the run before anything else moves, with vroomd's
 * words and the network as planned before the step; a router two daemons
 * both run stops the run before any step; power steps refused without a
 * power command, run through one (its exit status decides); hosts files
 * that do not fit (a bad field, a host the plan needs left out) refused
 * before anything is asked of a daemon.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nativeAvailable } from "../../hypervisor/native.ts";
import type { Daemon } from "../../tools/vroomd/daemon.ts";
import { host, router } from "../planner/fixtures.ts";
import { startDaemon, TempDir, vroomctl } from "./helpers.ts";

const PSK = "d4".repeat(32);
const NAMES = ["pr1", "pr2", "pr3"] as const;
type Name = (typeof NAMES)[number];

/** `count` distinct free ports on 127.0.0.1 (all held open together, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = createServer();
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => resolve());
      });
      servers.push(s);
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

const ROUTER_MAC: Record<string, string> = {
  vr1: "02:00:5e:18:01:01",
  vr2: "02:00:5e:18:02:01",
  vr3: "02:00:5e:18:03:01",
};
const VNI: Record<string, number> = { vr1: 101, vr2: 102, vr3: 103 };

interface Setup {
  /** Routers in each daemon's file. */
  routers: Record<Name, string[]>;
  /** Routers each daemon keeps a segment for (may move in). */
  segments: Record<Name, string[]>;
}

/** Three daemons and a directory holding the planner's network, the hosts file and the plans. */
class Lab {
  readonly dir = new TempDir();
  readonly daemons = new Map<Name, Daemon>();
  readonly dirs: TempDir[] = [this.dir];

  async start(setup: Setup): Promise<void> {
    const [udp, ...tcp] = await freePorts(4);
    const port = Object.fromEntries(NAMES.map((n, i) => [n, tcp[i]])) as Record<Name, number>;
    const ip = (n: Name) => `127.0.0.${NAMES.indexOf(n) + 1}`;
    for (const name of NAMES) {
      const mine = setup.routers[name];
      const links = mine
        .map(
          (r) =>
            `  - { name: s${VNI[r]}, kind: vxlan, vni: ${VNI[r]}, remotes: [127.0.0.9], remotePort: ${udp} }\n`,
        )
        .join("");
      const routers = mine
        .map(
          (r) => `  - name: ${r}
    interfaces:
      - { name: e1, layer: l2, mtu: 1450, mac: "${ROUTER_MAC[r]}", addresses: ["198.18.${VNI[r] - 100}.1/24"], link: s${VNI[r]} }
`,
        )
        .join("");
      const peers = NAMES.filter((n) => n !== name)
        .map(
          (n) =>
            `    - { name: ${n}, address: "127.0.0.1:${port[n]}", vtep: ${ip(n)}, vxlanPort: ${udp}, psk: "${PSK}" }\n`,
        )
        .join("");
      const segments = setup.segments[name]
        .map(
          (r) => `    ${r}: { e1: { vni: ${VNI[r]}, remotes: [127.0.0.9], remotePort: ${udp} } }\n`,
        )
        .join("");
      const text = `hypervisor: { name: ${name}, stateDir: ./state, api: { socket: ./vroomd.sock } }
vxlan: { listen: "${ip(name)}:${udp}" }
${links ? `links:\n${links}` : ""}${routers ? `routers:\n${routers}` : ""}migration:
  listen: "127.0.0.1:${port[name]}"
  tunnel: { listen: "${ip(name)}:0" }
  peers:
${peers}${segments ? `  segments:\n${segments}` : ""}`;
      const dir = new TempDir();
      this.dirs.push(dir);
      this.daemons.set(name, (await startDaemon(dir, text)).daemon);
    }
    writeFileSync(this.dir.join("network.json"), JSON.stringify(NETWORK, null, 2));
    writeFileSync(
      this.dir.join("hosts.yaml"),
      `hosts:\n${(["a1", "a2", "b1"] as const)
        .map((h) => `  ${h}: { api: ${this.daemon(HOST_OF[h]).socketPath}, peer: ${HOST_OF[h]} }`)
        .join("\n")}\n`,
    );
  }

  daemon(name: Name): Daemon {
    const d = this.daemons.get(name);
    if (d === undefined) throw new Error(`no daemon ${name}`);
    return d;
  }

  /** The routers each daemon runs. */
  runs(): Record<Name, string[]> {
    return Object.fromEntries(
      NAMES.map((n) => [
        n,
        this.daemon(n)
          .listRouters()
          .map((r) => r.name),
      ]),
    ) as Record<Name, string[]>;
  }

  async stop(): Promise<void> {
    for (const d of this.daemons.values()) await d.stop().catch(() => {});
    for (const d of this.dirs) d.remove();
  }

  vroomctl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    return vroomctl(argv);
  }

  /** Plans the evacuation of a1 and saves it; answers the plan. */
  async planEvacuation(): Promise<{ file: string; plan: Record<string, unknown> }> {
    const file = this.dir.join("evacuate.json");
    const r = await this.vroomctl(
      "plan",
      "maintenance",
      "-t",
      this.dir.join("network.json"),
      "-e",
      "a1",
      "--out",
      file,
      "--json",
    );
    expect(r.code, r.err).toBe(0);
    return { file, plan: JSON.parse(readFileSync(file, "utf8")) };
  }

  apply(plan: string, ...more: string[]) {
    return this.vroomctl(
      "--json",
      "plan",
      "apply",
      "-t",
      this.dir.join("network.json"),
      "-p",
      plan,
      ...more,
    );
  }
}

const HOST_OF = { a1: "pr1", a2: "pr2", b1: "pr3" } as const;

const NETWORK = {
  name: "live",
  headroom: { links: 0, hosts: 0 },
  pops: [
    { name: "A", lat: 40, lon: -75 },
    { name: "B", lat: 40, lon: -76 },
  ],
  links: [{ a: "A", b: "B", capacityMbps: 10_000, latencyMs: 1 }],
  hosts: [host("a1", "A", { routers: 2 }), host("a2", "A", { routers: 2 }), host("b1", "B")],
  routers: [router("vr1", "a1"), router("vr2", "a1"), router("vr3", "a2")],
  virtualLinks: [{ a: "vr1", b: "vr3" }],
  traffic: {
    peakMbps: 0,
    demands: [
      { from: "vr1", to: "vr3", mbps: 10 },
      { from: "vr3", to: "vr1", mbps: 10 },
    ],
    diurnal: { hourly: Array(24).fill(1) },
  },
};

const EVERYWHERE: Setup["segments"] = {
  pr1: ["vr1", "vr2", "vr3"],
  pr2: ["vr1", "vr2", "vr3"],
  pr3: ["vr1", "vr2", "vr3"],
};
const FILES: Setup["routers"] = { pr1: ["vr1", "vr2"], pr2: ["vr3"], pr3: [] };

const live = nativeAvailable()
  ? describe
  : (name: string, fn: () => void) =>
      describe.skip(`${name} (skipped: the native packet queue is not built)`, fn);

live("plan apply on live daemons", () => {
  const lab = new Lab();
  beforeAll(() => lab.start({ routers: FILES, segments: EVERYWHERE }), 30_000);
  afterAll(() => lab.stop());

  it("refuses power steps without a power command and runs them through one", async () => {
    const plan = lab.dir.join("power.json");
    writeFileSync(
      plan,
      JSON.stringify({
        network: "live",
        kind: "power",
        status: "optimal",
        trafficScale: 1,
        steps: [
          { step: 1, kind: "power-off", host: "b1" },
          { step: 2, kind: "power-on", host: "b1" },
        ],
      }),
    );
    const hosts = lab.dir.join("hosts.yaml");
    const refused = await lab.apply(plan, "--hosts", hosts);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.out)).toMatchObject({
      completed: false,
      stepsDone: 0,
      stoppedAt: { step: 1, reason: "the plan powers hosts on or off, and this migrator cannot" },
      state: "as-planned-before-step",
    });
    const log = lab.dir.join("power.log");
    const powered = await lab.apply(
      plan,
      "--hosts",
      hosts,
      "--power-command",
      `printf '%s %s\\n' >> '${log}'`,
    );
    expect(powered.code, powered.err).toBe(0);
    expect(JSON.parse(powered.out)).toMatchObject({ completed: true, stepsDone: 2 });
    expect(readFileSync(log, "utf8")).toBe("off b1\non b1\n");
    const failing = await lab.apply(plan, "--hosts", hosts, "--power-command", "false");
    expect(failing.code).toBe(1);
    expect(JSON.parse(failing.out).stoppedAt.reason).toBe("power command 'false off b1' exited 1");
  });

  it("carries a two-step plan out: the routers end where the plan says", async () => {
    const { file, plan } = await lab.planEvacuation();
    expect(plan.status).toBe("optimal");
    expect(plan.finalPlacement).toEqual({ vr1: "a2", vr2: "b1", vr3: "a2" });
    expect((plan.steps as unknown[]).length).toBe(2);
    const r = await lab.apply(file, "--hosts", lab.dir.join("hosts.yaml"));
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ completed: true, stepsDone: 2, state: "complete" });
    expect(report.placement).toEqual(plan.finalPlacement);
    expect(lab.runs()).toEqual({ pr1: [], pr2: ["vr1", "vr3"], pr3: ["vr2"] });
    // Carried out: a second run finds the network already past the plan's start.
    const again = await lab.apply(file, "--hosts", lab.dir.join("hosts.yaml"));
    expect(again.code).toBe(1);
    expect(JSON.parse(again.out)).toMatchObject({ stepsDone: 0, state: "off-plan" });
  }, 30_000);
});

live("plan apply stops safely", () => {
  it("when the target refuses a migration: vroomd's words, nothing else moved", async () => {
    const lab = new Lab();
    try {
      // pr3 has no segment for vr2: it refuses to take it.
      await lab.start({ routers: FILES, segments: { ...EVERYWHERE, pr3: ["vr1", "vr3"] } });
      const { file, plan } = await lab.planEvacuation();
      const steps = plan.steps as { router: string; to: string }[];
      const refusedAt = steps.findIndex((s) => s.router === "vr2") + 1;
      const r = await lab.apply(file, "--hosts", lab.dir.join("hosts.yaml"));
      expect(r.code).toBe(1);
      const report = JSON.parse(r.out);
      expect(report).toMatchObject({
        completed: false,
        stepsDone: refusedAt - 1,
        stoppedAt: { step: refusedAt },
        state: "as-planned-before-step",
        violations: [],
      });
      expect(report.stoppedAt.reason).toMatch(/no VXLAN segment known here for vr2\/e1/);
      expect(report.placement.vr2).toBe("a1");
      expect(lab.runs().pr1).toContain("vr2");
      expect(lab.runs().pr3).toEqual([]);
      expect(r.err).toMatch(/apply stopped at step \d: .*no VXLAN segment/);
    } finally {
      await lab.stop();
    }
  }, 30_000);

  it("when two daemons run the same router: no step is tried", async () => {
    const lab = new Lab();
    try {
      await lab.start({ routers: { ...FILES, pr3: ["vr3"] }, segments: EVERYWHERE });
      const { file } = await lab.planEvacuation();
      const r = await lab.apply(file, "--hosts", lab.dir.join("hosts.yaml"));
      expect(r.code).toBe(1);
      const report = JSON.parse(r.out);
      expect(report).toMatchObject({ stepsDone: 0, stoppedAt: { step: 1 }, state: "unknown" });
      expect(report.stoppedAt.reason).toMatch(
        /cannot read the placement: router vr3 runs on both a2 and b1: refusing to guess/,
      );
      expect(lab.runs()).toEqual({ pr1: ["vr1", "vr2"], pr2: ["vr3"], pr3: ["vr3"] });
    } finally {
      await lab.stop();
    }
  }, 30_000);
});

describe("plan apply refuses a hosts file that does not fit", () => {
  const lab = new Lab();
  afterAll(() => lab.stop());

  it("names the host and the field, or the hosts the plan needs, before asking any daemon", async () => {
    writeFileSync(lab.dir.join("network.json"), JSON.stringify(NETWORK));
    const { file } = await lab.planEvacuation();
    const bad = lab.dir.join("bad.yaml");
    writeFileSync(
      bad,
      `hosts:
  a1: { api: /nowhere/a1.sock, peer: pr1, colour: blue }
  a2: { peer: pr2 }
  b1: { api: "http://127.0.0.1:7179", peer: pr3 }
`,
    );
    const r = await lab.apply(file, "--hosts", bad);
    expect(r.code).toBe(1);
    expect(r.err).toContain("invalid hosts file");
    expect(r.err).toMatch(/bad\.yaml: hosts\.a1: unknown field\(s\) colour/);
    expect(r.err).toMatch(/bad\.yaml: hosts\.a2\.api: /);
    const token = lab.dir.join("token.yaml");
    writeFileSync(token, `hosts:\n  b1: { api: "http://127.0.0.1:7179", peer: pr3 }\n`);
    const noToken = await lab.apply(file, "--hosts", token);
    expect(noToken.err).toMatch(/hosts\.b1\.tokenFile: needed with an http:\/\/ API/);
    const partial = lab.dir.join("partial.yaml");
    const entries = (peerOfA2: string) =>
      ["a1: pr1", `a2: ${peerOfA2}`, "c9: pr9"]
        .map((e) => e.split(": "))
        .map(([h, peer]) => `  ${h}: { api: /nowhere/${h}.sock, peer: ${peer} }\n`)
        .join("");
    writeFileSync(partial, `hosts:\n${entries("pr1")}`);
    const p = await lab.apply(file, "--hosts", partial);
    expect(p.code).toBe(1);
    expect(p.err).toMatch(/hosts\.a2\.peer: 'pr1' is already host a1's peer name/);
    writeFileSync(partial, `hosts:\n${entries("pr2")}`);
    const q = await lab.apply(file, "--hosts", partial);
    expect(q.code).toBe(1);
    expect(q.err).toMatch(/hosts\.c9: network live has no host c9/);
    expect(q.err).toMatch(/no entry for host\(s\) b1, which the plan needs/);
    // Nothing was asked of a daemon: no report, only the refusal.
    expect(q.out).toBe("");
    const both = await lab.apply(file, "--dry-run", "--hosts", partial);
    expect(both.code).toBe(2);
  });
});
