/**
 * Live migration in vroomd (tools/vroomd/migration.ts): the `migration`
 * section's errors (file:line), and two daemons in one process over
 * loopback with PSK channels: the API's validation and refusals (unknown
 * router or peer, a peer that does not authenticate, no room at the target,
 * no migration section: one error each, nothing changed), a migration
 * started through the API and followed on the progress stream, the
 * ownership record (owned.json) on both sides, the source's redirect of its
 * VXLAN links, metrics.
 *
 * The router side of migration is driven through the test fakes of
 * test/migration/fakes.ts (`FakeRouter` exports a FIB and a small control
 * state; `FakeFactory` builds standbys), passed in as the daemons'
 * `migrationHost`; the source hypervisor also places a packet-level fake
 * router under the same name, bound to its VXLAN links, so that the
 * substrate hooks act on real links.
 */
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfigText } from "../../tools/vroomd/config.ts";
import { ForwardRouter } from "../hypervisor/fakes.ts";
import { FakeRouter, fillRoutes, GENEROUS_OFFER } from "../migration/fakes.ts";
import { type DaemonPair, startDaemonPair, vroomctlAt } from "./daemon-pair.ts";
import { baseConfig, http, startDaemon, TempDir } from "./helpers.ts";

const PSK = "a1".repeat(32);
const OTHER_PSK = "b2".repeat(32);

function errorsOf(text: string): string[] {
  const r = parseConfigText(text, "/etc/vroom/vroomd.yaml");
  return r.ok ? [] : r.errors.map(String);
}

describe("the migration section", () => {
  const head = `hypervisor: { name: pr1, stateDir: ./s, api: { socket: ./a.sock } }
migration:
`;
  it("accepts a full section and fills defaults", () => {
    const r = parseConfigText(
      `${head}  listen: 127.0.0.1:7180
  peers:
    - { name: pr2, address: "198.18.0.2:7180", psk: "${PSK}" }
  segments:
    vr1: { eth0: { vni: 100, remotes: [198.18.1.1] } }
  rehome: [ssh, "{vtep}", "bridge fdb append 00:00:00:00:00:00 dev vx{vni} dst {vtep}"]
  maxRouters: 3
`,
      "/etc/vroom/vroomd.yaml",
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.migration).toMatchObject({
      listen: { host: "127.0.0.1", port: 7180 },
      tunnel: { listen: { host: "0.0.0.0", port: 4790 } },
      peers: [{ name: "pr2", vtep: { host: "198.18.0.2", port: 4789 }, psk: PSK }],
      segments: { vr1: { eth0: { vni: 100, remotes: ["198.18.1.1"] } } },
      handshakeTimeoutMs: 5000,
      maxRouters: 3,
    });
  });

  it("reports each problem with file:line", () => {
    const errors = errorsOf(`${head}  peers:
    - { name: pr1, address: "198.18.0.2:7180", psk: "${PSK}" }
    - { name: pr2, address: "198.18.0.2:7180", psk: "abc" }
    - { name: pr3, address: "198.18.0.2:7180", psk: "${PSK}", fingerprint: "${"ab:".repeat(31)}ab" }
    - { name: pr4, address: "198.18.0.2:7180", fingerprint: "${"ab:".repeat(31)}ab" }
    - { name: pr4, address: "198.18.0.2:7180", psk: "${PSK}" }
    - { name: pr5, address: "nowhere:7180", psk: "${PSK}" }
  segments:
    vr1: { eth0: { vni: 100, remotes: [not-an-ip] } }
  colour: blue
`);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/vroomd\.yaml:5:\d+: migration\.peers\.1\.psk: .*at least 32 bytes/),
        expect.stringMatching(
          /vroomd\.yaml:6:\d+: migration\.peers\.2.*exactly one of psk and fingerprint/,
        ),
        expect.stringMatching(
          /vroomd\.yaml:9:\d+: migration\.peers\.5\.address: 'nowhere' is not an IP address/,
        ),
        expect.stringMatching(/vroomd\.yaml:12:\d+: migration\.colour: unknown field 'colour'/),
      ]),
    );
    const second = errorsOf(`${head}  peers:
    - { name: pr1, address: "198.18.0.2:7180", psk: "${PSK}" }
    - { name: pr4, address: "198.18.0.2:7180", fingerprint: "${"ab:".repeat(31)}ab" }
    - { name: pr4, address: "198.18.0.2:7180", psk: "${PSK}" }
    - { name: pr5, address: "198.18.0.2:7180", vtep: nowhere, psk: "${PSK}" }
  segments:
    vr1: { eth0: { vni: 100, remotes: [not-an-ip] } }
`);
    expect(second).toEqual([
      expect.stringMatching(
        /:4:\d+: migration\.peers\.0\.name: 'pr1' is this hypervisor's own name/,
      ),
      expect.stringMatching(
        /:5:\d+: migration\.peers\.1\.fingerprint: .*needs one \(migration\.certificate\)/,
      ),
      expect.stringMatching(
        /:6:\d+: migration\.peers\.2\.name: duplicate peer 'pr4' \(migration\.peers\.1\)/,
      ),
      expect.stringMatching(
        /:7:\d+: migration\.peers\.3\.vtep: .*must be an IP address, not 'nowhere'/,
      ),
      expect.stringMatching(
        /:9:\d+: migration\.segments\.vr1\.eth0\.remotes\.0: 'not-an-ip' is not an IP address/,
      ),
    ]);
  });
});

type Pair = DaemonPair;

const startPair = () =>
  startDaemonPair({
    psk: PSK,
    extraPeers: `    - { name: pr3, address: "127.0.0.1:{port2}", vtep: 127.0.0.2, psk: "${OTHER_PSK}" }\n`,
  });

/** Router vr1 at pr1: the fake that migration moves, and a packet-level fake bound to s0, s1. */
async function placeVr1(p: Pair, routes = 1000): Promise<FakeRouter> {
  const r = p.routers.add(new FakeRouter("vr1"));
  fillRoutes(r, routes);
  await p.pr1.ownership.claim("vr1");
  const hv = p.pr1.hypervisor;
  hv.addRouter(new ForwardRouter("vr1", 2, {}, "l2"));
  hv.bind("vr1", 0, "s0");
  hv.bind("vr1", 1, "s1");
  return r;
}

/** Reads a JSON-lines stream to its end. */
function stream(socket: string, path: string): Promise<unknown[]> {
  return http({ socket }, "GET", path).then((a) =>
    a.text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l)),
  );
}

describe("two daemons over loopback (PSK)", () => {
  let p: Pair;
  beforeEach(async () => {
    p = await startPair();
  });
  afterEach(() => p.stop());

  it("refuses bad requests, one clear error each, and changes nothing", async () => {
    await placeVr1(p);
    const post = (router: string, body: unknown) =>
      http(p.sock1, "POST", `/v1/routers/${router}/migrate`, body);
    const cases: [string, unknown, number, string, RegExp][] = [
      ["vr1", {}, 400, "BadRequest", /to: /],
      ["vr1", { to: "pr2", now: true }, 400, "BadRequest", /unknown field 'now'/],
      ["nope", { to: "pr2" }, 404, "UnknownRouter", /no router nope on pr1/],
      ["vr1", { to: "pr9" }, 404, "UnknownPeer", /no peer pr9 .*peers: pr2, pr3/],
      ["vr1", { to: "pr3" }, 502, "PeerAuthFailed", /pr3/],
    ];
    for (const [router, body, status, code, message] of cases) {
      const a = await post(router, body);
      expect({ status: a.status, code: a.json.error.code }).toEqual({ status, code });
      expect(a.json.error.message).toMatch(message);
    }
    p.factory.offer = { ...GENEROUS_OFFER, freeRouterSlots: 0 };
    const full = await post("vr1", { to: "pr2" });
    expect(full.status).toBe(409);
    expect(full.json.error).toMatchObject({
      code: "NoRoomAtTarget",
      message: expect.stringMatching(/pr2 refused router vr1: no room for another router/),
      details: { refusal: "Capacity" },
    });
    p.factory.offer = { ...GENEROUS_OFFER };
    p.routers.add(new FakeRouter("vr2"));
    await p.pr1.ownership.claim("vr2");
    const noSegment = await post("vr2", { to: "pr2" });
    expect(noSegment.status).toBe(409);
    expect(noSegment.json.error).toMatchObject({
      code: "MigrationRefused",
      message: expect.stringMatching(/no VXLAN segment known here for vr2\/eth0/),
      details: { refusal: "LinkSetup" },
    });
    // Nothing changed: vr1 owned here at epoch 1, bound, no redirect; nothing at pr2.
    expect(p.pr1.ownership.get("vr1")).toMatchObject({ role: "owned", epoch: 1 });
    expect(p.pr1.hypervisor.binding.lookup("vr1", 0)?.name).toBe("s0");
    expect(p.pr1.hypervisor.switching.size).toBe(0);
    expect(p.pr2.hypervisor.links.size).toBe(0);
    expect(p.pr2.ownership.get("vr1")).toBeUndefined();
    expect(p.factory.leftovers()).toEqual([]);
    const list = await http(p.sock1, "GET", "/v1/migrations");
    expect(list.json.migrations.slice(0, 1)).toMatchObject([
      {
        router: "vr1",
        role: "source",
        peer: "pr2",
        finished: true,
        result: { outcome: "rolled-back", refusal: "Capacity" },
      },
    ]);
    const unknown = await http(p.sock1, "GET", "/v1/migrations/00");
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("UnknownMigration");
  });

  it("moves a router through the API: progress stream, both records, the source's redirect", async () => {
    const vr1 = await placeVr1(p, 5000);
    const started = await http(p.sock1, "POST", "/v1/routers/vr1/migrate", { to: "pr2" });
    expect(started.status).toBe(202);
    const id = started.json.id as string;
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(started.headers.location).toBe(`/v1/migrations/${id}`);
    expect(started.json).toMatchObject({ router: "vr1", role: "source", peer: "pr2" });

    const events = (await stream(p.sock1.socket, `/v1/migrations/${id}/events`)) as {
      type: string;
      migration: { phase: string; finished: boolean; result?: Record<string, unknown> };
    }[];
    const last = events[events.length - 1];
    expect(last.type).toBe("finished");
    expect(last.migration.result).toMatchObject({ outcome: "moved" });
    const phases = new Set(events.map((e) => e.migration.phase));
    expect(phases.has("done")).toBe(true);

    const view = await http(p.sock1, "GET", `/v1/migrations/${id}`);
    expect(view.json).toMatchObject({
      id,
      phase: "done",
      finished: true,
      result: { outcome: "moved", totalMs: expect.any(Number), cpFreezeMs: expect.any(Number) },
    });
    expect(view.json.bytes).toBeGreaterThan(5000);
    const atTarget = await http(p.sock2, "GET", "/v1/migrations");
    expect(atTarget.json.migrations).toMatchObject([
      { id, router: "vr1", role: "target", peer: "pr1", result: { outcome: "moved" } },
    ]);
    expect(p.factory.activeRouters().map((s) => s.name)).toEqual(["vr1"]);
    expect(vr1.ended).toBe(1);

    // One ownership record per daemon: owned.json.
    const owned1 = JSON.parse(readFileSync(p.dirs[0].join("state", "owned.json"), "utf8"));
    expect(owned1.routers).toMatchObject([
      { name: "vr1", role: "gone", epoch: 2, peer: "pr2", migrationId: id },
    ]);
    const owned2 = JSON.parse(readFileSync(p.dirs[1].join("state", "owned.json"), "utf8"));
    expect(owned2.routers).toMatchObject([
      { name: "vr1", origin: "api", role: "owned", epoch: 2, migrationId: id },
    ]);

    // The source dropped the router and keeps redirecting its links (no rehome command).
    const hv1 = p.pr1.hypervisor;
    expect(hv1.placement.has("vr1")).toBe(false);
    const rules = await http(p.sock1, "GET", "/v1/switching");
    expect(rules.json.rules.map((r: { from: string; to: string }) => `${r.from}->${r.to}`)).toEqual(
      ["s0->s0>pr2", "s1->s1>pr2"],
    );
    // The target prepared the segments' links.
    expect(p.pr2.hypervisor.links.names().sort()).toEqual(["vr1.eth0", "vr1.eth1"]);

    const metrics = await http(p.sock1, "GET", "/metrics");
    expect(metrics.text).toMatch(
      /vroom_migrations_started_total\{role="source",hypervisor="pr1"\} 1/,
    );
    expect(metrics.text).toMatch(
      /vroom_migrations_finished_total\{role="source",outcome="moved",hypervisor="pr1"\} 1/,
    );
    expect(metrics.text).toMatch(
      /vroom_migration_phase_seconds_count\{hypervisor="pr1",role="source",phase="pre-copy"\} 1/,
    );

    // Moving it again from pr1 is refused: pr1 no longer owns it.
    p.routers.add(vr1);
    const again = await http(p.sock1, "POST", "/v1/routers/vr1/migrate", { to: "pr2" });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("NotOwner");
  });
});

describe("vroomctl migrate and migrations", () => {
  let p: Pair;
  beforeEach(async () => {
    p = await startPair();
  });
  afterEach(() => p.stop());

  const ctl = (...argv: string[]) => vroomctlAt(p.pr1.socketPath, ...argv);

  it("moves a router with a summary, lists migrations, and exits 1 on a refusal", async () => {
    await placeVr1(p, 2000);
    p.factory.offer = { ...GENEROUS_OFFER, freeMemoryBytes: 10 };
    const refused = await ctl("migrate", "vr1", "--to", "pr2");
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(
      /^vroomctl: pr2 refused router vr1: the router needs 1048576 bytes of memory, 10 are free\n$/,
    );
    p.factory.offer = { ...GENEROUS_OFFER };
    const moved = await ctl("migrate", "vr1", "--to", "pr2");
    expect(moved.err).toBe("");
    expect(moved.code).toBe(0);
    expect(moved.out).toMatch(
      /^vr1 moved to pr2 \(migration [0-9a-f]{32}\): control-plane freeze [0-9.]+ ms, total [0-9.]+ ms, \d+ bytes, \d+ control rounds, \d+ data-plane rounds\n$/,
    );
    const list = await ctl("migrations");
    expect(list.code).toBe(0);
    const lines = list.out.trim().split("\n");
    expect(lines[0]).toMatch(
      /^ID\s+ROUTER\s+ROLE\s+PEER\s+PHASE\s+BYTES\s+ROUNDS\s+ELAPSED\s+RESULT$/,
    );
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/)[5 - 1])).toEqual(["rolled-back", "done"]);
    const json = await ctl("--json", "migrations");
    const id = JSON.parse(json.out).migrations[1].id;
    const one = await ctl("--json", "migrations", id);
    expect(JSON.parse(one.out)).toMatchObject({ id, result: { outcome: "moved" } });
    const missing = await ctl("migrate", "vr1", "--to", "nowhere");
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no peer nowhere/);
  });
});

describe("a daemon without a migration section", () => {
  it("answers MigrationNotConfigured", async () => {
    const dir = new TempDir();
    const s = await startDaemon(dir, baseConfig());
    try {
      const a = await http({ socket: s.daemon.socketPath }, "POST", "/v1/routers/vr1/migrate", {
        to: "pr2",
      });
      expect(a.status).toBe(409);
      expect(a.json.error.code).toBe("MigrationNotConfigured");
      expect((await http({ socket: s.daemon.socketPath }, "GET", "/v1/migrations")).status).toBe(
        409,
      );
      // The ownership record is the one owned.json, with epochs.
      const owned = JSON.parse(readFileSync(dir.join("state", "owned.json"), "utf8"));
      expect(owned.routers).toMatchObject([
        { name: "vr1", origin: "config", role: "owned", epoch: 1 },
      ]);
    } finally {
      await s.daemon.stop();
      dir.remove();
    }
  });
});
