/**
 * BGP in the daemon, without root: two routers of one daemon (vr1, AS
 * 65001, and vr2, AS 65002) whose memory links are joined by a wire in the
 * test peer with each other over their own TCP. Through the API: the
 * neighbours reach Established, the Loc-RIB and each neighbour's routes in
 * and out carry their attributes, route refresh, disable (Cease with a
 * message, routes withdrawn) and enable, the errors (a router without BGP,
 * an unknown neighbour, bad queries and bodies), the metrics and the log
 * lines. Then the same through vroomctl. Then two daemons, one router
 * each: stopping one, removing its router by a reload, or rebuilding it
 * sends the other a Cease before it goes, and the TCP connection closes.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VirtualRouter } from "../../router/router.ts";
import { runVroomctl } from "../../tools/vroomctl/cli.ts";
import { openConnections } from "../../tools/vroomd/bgp-control.ts";
import type { Daemon } from "../../tools/vroomd/daemon.ts";
import {
  bgpConfig,
  http,
  joinMemoryLinks,
  type Started,
  settle,
  startDaemon,
  TempDir,
  vroomctl,
  waitUntil,
} from "./helpers.ts";

const state = (d: Daemon, router: string) => d.router(router)!.bgp!.neighbors()[0].state;
const established = (d: Daemon, router: string) => state(d, router) === "Established";
const hasRoute = (d: Daemon, router: string, prefix: string) =>
  [4, 6].some((f) =>
    [...d.router(router)!.bgp!.routes(f as 4 | 6)].some((r) => r.prefix === prefix),
  );

describe("BGP through the API (two routers in one daemon)", () => {
  let dir: TempDir;
  let s: Started;
  let sock: { socket: string };
  const get = (path: string) => http(sock, "GET", path);
  const post = (path: string, body?: unknown) => http(sock, "POST", path, body);

  beforeAll(async () => {
    dir = new TempDir();
    s = await startDaemon(dir, bgpConfig(), "vroomd.yaml", "debug");
    sock = { socket: s.daemon.socketPath };
    joinMemoryLinks(s.daemon, "wa", s.daemon, "wb");
    await waitUntil(
      () =>
        established(s.daemon, "vr1") &&
        hasRoute(s.daemon, "vr2", "198.18.60.0/24") &&
        hasRoute(s.daemon, "vr2", "2001:db8:60::/48") &&
        hasRoute(s.daemon, "vr1", "198.18.70.0/24"),
      15_000,
      "vr1 and vr2 established with their routes",
    );
  });
  afterAll(async () => {
    await s?.daemon.stop();
    dir?.remove();
  });

  it("shows both neighbours Established with what they negotiated", async () => {
    const r = await get("/v1/routers/vr1/bgp/neighbors");
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ router: "vr1", asn: 65001, routerId: "198.18.50.1" });
    const n = r.json.neighbors[0];
    expect(n).toMatchObject({
      name: "198.18.50.2",
      address: "198.18.50.2",
      asn: 65002,
      description: "to vr2",
      type: "ebgp",
      enabled: true,
      state: "Established",
      protocolState: "up",
      sourceAddress: "198.18.50.1",
      peerId: "198.18.50.2",
      holdTime: 90,
      keepaliveSeconds: 30,
      families: ["ipv4", "ipv6"],
      fourOctetAs: true,
      routeRefresh: true,
      config: { passive: false, port: 179, import: "accept", export: "tag", md5: false },
      lastError: null,
      adminMessage: null,
    });
    expect(n.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(Date.parse(n.since)).toBeLessThanOrEqual(Date.now());
    expect(n.messages.in.open).toBe(1);
    expect(n.messages.out.open).toBe(1);
    expect(n.messages.in.update).toBeGreaterThan(0);
    expect(n.channels).toEqual([
      {
        family: "ipv4",
        state: "up",
        imported: 1,
        exported: 1,
        preferred: 1,
        waiting: 0,
        endOfRibReceived: true,
      },
      {
        family: "ipv6",
        state: "up",
        imported: 0,
        exported: 1,
        preferred: 0,
        waiting: 0,
        endOfRibReceived: true,
      },
    ]);
    const other = (await get("/v1/routers/vr2/bgp/neighbors")).json.neighbors[0];
    expect(other).toMatchObject({
      name: "198.18.50.1",
      state: "Established",
      config: { passive: true, import: "accept", export: "accept" },
      prefixes: { received: 2, rejected: 0, accepted: 2, advertised: 1 },
    });
    expect(other.connections).toEqual([{ state: "Established", outgoing: false }]);
    const detail = (await get("/v1/routers/vr1")).json;
    expect(detail.bgp).toEqual({
      asn: 65001,
      routerId: "198.18.50.1",
      neighbors: 1,
      established: 1,
      locRib: { ipv4: 2, ipv6: 1 },
    });
    expect((await get("/v1/routers/plain")).json.bgp).toBeNull();
  });

  it("shows the Loc-RIB with every attribute, sorted, per family, limited", async () => {
    const r = await get("/v1/routers/vr2/bgp/routes");
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      router: "vr2",
      family: null,
      neighbor: null,
      direction: null,
      total: 3,
    });
    expect(r.json.routes.map((x: { prefix: string }) => x.prefix)).toEqual([
      "198.18.60.0/24",
      "198.18.70.0/24",
      "2001:db8:60::/48",
    ]);
    expect(r.json.routes[0]).toEqual({
      prefix: "198.18.60.0/24",
      family: "ipv4",
      from: "198.18.50.1",
      kind: "ebgp",
      origin: "incomplete",
      asPath: "65001",
      nextHop: "198.18.50.1",
      via: "198.18.50.1",
      interface: "eth0",
      med: 50,
      localPref: 100,
      atomicAggregate: false,
      communities: ["65001:100"],
      largeCommunities: ["65001:1:2"],
    });
    expect(r.json.routes[1]).toMatchObject({
      prefix: "198.18.70.0/24",
      from: "static",
      kind: "static",
      asPath: "",
    });
    expect(r.json.routes[2]).toMatchObject({
      prefix: "2001:db8:60::/48",
      family: "ipv6",
      nextHop: "2001:db8:50::1",
      via: "2001:db8:50::1",
      interface: "eth0",
    });
    const v6 = await get("/v1/routers/vr2/bgp/routes?family=ipv6");
    expect(v6.json.routes.map((x: { prefix: string }) => x.prefix)).toEqual(["2001:db8:60::/48"]);
    const one = await get("/v1/routers/vr2/bgp/routes?limit=1");
    expect(one.json).toMatchObject({ total: 3, routes: [{ prefix: "198.18.60.0/24" }] });
    // The FIB has what BGP chose.
    const fib = await get("/v1/routers/vr2/fib?family=4");
    expect(fib.json.entries).toContainEqual({
      prefix: "198.18.60.0/24",
      family: 4,
      type: "unicast",
      interface: "eth0",
      via: "198.18.50.1",
    });
  });

  it("shows a neighbour's routes received and advertised", async () => {
    const inn = await get("/v1/routers/vr2/bgp/routes?neighbor=198.18.50.1&direction=in");
    expect(inn.json).toMatchObject({ neighbor: "198.18.50.1", direction: "in", total: 2 });
    expect(inn.json.routes.map((x: { prefix: string }) => x.prefix)).toEqual([
      "198.18.60.0/24",
      "2001:db8:60::/48",
    ]);
    // Without direction: in.
    const dflt = await get("/v1/routers/vr2/bgp/routes?neighbor=198.18.50.1");
    expect(dflt.json).toMatchObject({ direction: "in", total: 2 });
    const out = await get(
      "/v1/routers/vr1/bgp/routes?neighbor=198.18.50.2&direction=out&family=ipv4",
    );
    expect(out.json).toMatchObject({ direction: "out", family: "ipv4", total: 1 });
    // What vr1 sends: its AS prepended, itself as next hop, the export policy's marks.
    expect(out.json.routes[0]).toEqual({
      prefix: "198.18.60.0/24",
      family: "ipv4",
      kind: "ebgp",
      origin: "incomplete",
      asPath: "65001",
      nextHop: "198.18.50.1",
      med: 50,
      atomicAggregate: false,
      communities: ["65001:100"],
      largeCommunities: ["65001:1:2"],
    });
  });

  it("refuses bad requests with clear codes, changing nothing", async () => {
    const plain = await get("/v1/routers/plain/bgp/neighbors");
    expect(plain.status).toBe(404);
    expect(plain.json.error).toEqual({
      code: "BgpNotConfigured",
      message: "router plain does not run BGP (its configuration has no bgp section)",
    });
    expect((await get("/v1/routers/plain/bgp/routes")).json.error.code).toBe("BgpNotConfigured");
    expect((await post("/v1/routers/plain/bgp/neighbors/198.18.90.2/disable")).status).toBe(404);
    expect((await get("/v1/routers/nope/bgp/neighbors")).json.error.code).toBe("UnknownRouter");
    const unknown = await post("/v1/routers/vr1/bgp/neighbors/198.18.50.9/disable", {});
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toEqual({
      code: "UnknownBgpNeighbor",
      message: "router vr1 has no BGP neighbour 198.18.50.9 (neighbours: 198.18.50.2)",
    });
    const routesOf = await get("/v1/routers/vr1/bgp/routes?neighbor=2001:db8::9");
    expect(routesOf.json.error.code).toBe("UnknownBgpNeighbor");
    for (const q of ["family=4", "direction=in", "neighbor=198.18.50.2&direction=up", "limit=x"]) {
      const r = await get(`/v1/routers/vr1/bgp/routes?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.error.code, q).toBe("BadRequest");
    }
    const long = await post("/v1/routers/vr1/bgp/neighbors/198.18.50.2/disable", {
      message: "é".repeat(128),
    });
    expect(long.status).toBe(400);
    expect(long.json.error.message).toMatch(/message: at most 255 octets of UTF-8 \(RFC 9003\)/);
    const field = await post("/v1/routers/vr1/bgp/neighbors/198.18.50.2/refresh", {
      family: "ipv4",
      now: true,
    });
    expect(field.status).toBe(400);
    expect(field.json.error.message).toMatch(/unknown field 'now'/);
    const fam = await post("/v1/routers/vr1/bgp/neighbors/198.18.50.2/refresh", { family: "4" });
    expect(fam.status).toBe(400);
    expect((await get("/v1/routers/vr1/bgp/neighbors/198.18.50.2/refresh")).status).toBe(405);
    expect(established(s.daemon, "vr1")).toBe(true);
  });

  it("sends ROUTE-REFRESH for every family or one", async () => {
    const before = (await get("/v1/routers/vr1/bgp/neighbors")).json.neighbors[0].messages.in
      .routeRefresh;
    const all = await post("/v1/routers/vr2/bgp/neighbors/198.18.50.1/refresh");
    expect(all.status).toBe(200);
    expect(all.json).toEqual({
      router: "vr2",
      neighbor: "198.18.50.1",
      families: ["ipv4", "ipv6"],
    });
    const six = await post("/v1/routers/vr2/bgp/neighbors/198.18.50.1/refresh", {
      family: "ipv6",
    });
    expect(six.json.families).toEqual(["ipv6"]);
    await waitUntil(
      () => s.daemon.router("vr1")!.bgp!.neighbors()[0].messagesIn.routeRefresh >= before + 3,
      5000,
      "vr1 to receive the refreshes",
    );
    const out = (await get("/v1/routers/vr2/bgp/neighbors")).json.neighbors[0].messages.out;
    expect(out.routeRefresh).toBeGreaterThanOrEqual(3);
    expect(hasRoute(s.daemon, "vr2", "198.18.60.0/24")).toBe(true);
    expect(established(s.daemon, "vr1")).toBe(true);
  });

  it("disables a neighbour with a Cease and a message, then enables it again", async () => {
    const flapsBefore = s.daemon.router("vr1")!.bgp!.neighbors()[0].flaps;
    const off = await post("/v1/routers/vr1/bgp/neighbors/198.18.50.2/disable", {
      message: "maintenance window",
    });
    expect(off.status).toBe(200);
    expect(off.json.neighbor).toMatchObject({
      name: "198.18.50.2",
      enabled: false,
      state: "Idle",
      protocolState: "down",
      adminMessage: "maintenance window",
    });
    await waitUntil(
      () => !hasRoute(s.daemon, "vr2", "198.18.60.0/24"),
      5000,
      "vr2 to drop vr1's routes",
    );
    const peer = (await get("/v1/routers/vr2/bgp/neighbors")).json.neighbors[0];
    expect(peer.state).not.toBe("Established");
    expect(peer.protocolState).toBe("start");
    expect(peer.lastError).toMatchObject({
      direction: "received",
      code: 6,
      subcode: 2,
      text: "NOTIFICATION received: cease / AdministrativeShutdown",
    });
    expect(Date.parse(peer.lastError.at)).toBeLessThanOrEqual(Date.now());
    const refused = await post("/v1/routers/vr1/bgp/neighbors/198.18.50.2/refresh");
    expect(refused.status).toBe(409);
    expect(refused.json.error).toEqual({
      code: "BgpRefreshRefused",
      message: "cannot refresh 198.18.50.2 of vr1: the session is Idle, not Established",
    });
    // It stays down: the speaker does not start it again by itself.
    await settle(1500);
    expect(state(s.daemon, "vr1")).toBe("Idle");
    expect(s.daemon.router("vr1")!.bgp!.neighbors()[0].flaps).toBe(flapsBefore + 1);

    const on = await post("/v1/routers/vr1/bgp/neighbors/198.18.50.2/enable");
    expect(on.status).toBe(200);
    expect(on.json.neighbor).toMatchObject({ enabled: true, adminMessage: null });
    await waitUntil(
      () => established(s.daemon, "vr1") && hasRoute(s.daemon, "vr2", "198.18.60.0/24"),
      10_000,
      "the session and its routes back",
    );
    const back = (await get("/v1/routers/vr1/bgp/neighbors")).json.neighbors[0];
    expect(back).toMatchObject({ protocolState: "up", establishedCount: 2 });
  });

  it("exports BGP metrics per router and neighbour", async () => {
    const m = (await get("/metrics")).text;
    const line = (re: RegExp) => expect(m).toMatch(re);
    const n1 = 'router="vr1",neighbor="198.18.50.2"';
    line(
      new RegExp(`vroom_bgp_neighbor_state\\{${n1},state="Established",hypervisor="bgp-hv"\\} 1`),
    );
    line(new RegExp(`vroom_bgp_neighbor_state\\{${n1},state="Idle",hypervisor="bgp-hv"\\} 0`));
    line(new RegExp(`vroom_bgp_neighbor_established_seconds\\{${n1},hypervisor="bgp-hv"\\} \\d`));
    line(
      new RegExp(
        `vroom_bgp_neighbor_info\\{${n1},peer_as="65002",type="ebgp",hypervisor="bgp-hv"\\} 1`,
      ),
    );
    line(new RegExp(`vroom_bgp_neighbor_admin_enabled\\{${n1},hypervisor="bgp-hv"\\} 1`));
    line(
      /vroom_bgp_neighbor_prefixes_accepted\{router="vr2",neighbor="198.18.50.1",family="ipv4",hypervisor="bgp-hv"\} 1/,
    );
    line(
      /vroom_bgp_neighbor_prefixes_accepted\{router="vr2",neighbor="198.18.50.1",family="ipv6",hypervisor="bgp-hv"\} 1/,
    );
    line(
      new RegExp(
        `vroom_bgp_neighbor_prefixes_advertised\\{${n1},family="ipv4",hypervisor="bgp-hv"\\} 1`,
      ),
    );
    line(
      /vroom_bgp_neighbor_prefixes_received_total\{router="vr2",neighbor="198.18.50.1",hypervisor="bgp-hv"\} [1-9]/,
    );
    line(
      new RegExp(
        `vroom_bgp_neighbor_messages_total\\{${n1},direction="in",type="open",hypervisor="bgp-hv"\\} 2`,
      ),
    );
    line(
      new RegExp(
        `vroom_bgp_neighbor_messages_total\\{${n1},direction="out",type="notification",hypervisor="bgp-hv"\\} 1`,
      ),
    );
    line(
      new RegExp(
        `vroom_bgp_neighbor_messages_total\\{${n1},direction="in",type="route_refresh",hypervisor="bgp-hv"\\} [1-9]`,
      ),
    );
    line(new RegExp(`vroom_bgp_neighbor_flaps_total\\{${n1},hypervisor="bgp-hv"\\} 1`));
    line(new RegExp(`vroom_bgp_neighbor_established_total\\{${n1},hypervisor="bgp-hv"\\} 2`));
    line(/vroom_bgp_loc_rib_routes\{router="vr2",family="ipv4",hypervisor="bgp-hv"\} 2/);
    expect(m).not.toMatch(/router="plain",neighbor/);
  });

  it("logs sessions up and down at info, the other events at debug", () => {
    const bgp = s.logs.lines.filter((l) => l.event !== undefined);
    const up = bgp.find((l) => l.msg === "BGP session established" && l.router === "vr1");
    expect(up).toMatchObject({ level: 30, neighbor: "198.18.50.2", event: "established" });
    expect(String(up!.detail)).toMatch(/^peer 198\.18\.50\.2 AS65002, hold 90s$/);
    const down = bgp.find((l) => l.msg === "BGP session down" && l.router === "vr2");
    expect(down).toMatchObject({
      level: 30,
      neighbor: "198.18.50.1",
      event: "down",
      detail: "NOTIFICATION received: cease / AdministrativeShutdown",
    });
    expect(bgp.some((l) => l.level === 20 && l.event === "route refresh requested")).toBe(true);
    const admin = s.logs.lines.find((l) => l.msg === "BGP neighbour disabled");
    expect(admin).toMatchObject({
      router: "vr1",
      neighbor: "198.18.50.2",
      message: "maintenance window",
    });
  });
});

describe("BGP through vroomctl", () => {
  let dir: TempDir;
  let s: Started;
  let socket: string;

  const ctl = (...args: string[]) => vroomctl(["--socket", socket, ...args]);

  beforeAll(async () => {
    dir = new TempDir();
    s = await startDaemon(dir, bgpConfig());
    socket = s.daemon.socketPath;
    joinMemoryLinks(s.daemon, "wa", s.daemon, "wb");
    await waitUntil(
      () => established(s.daemon, "vr1") && hasRoute(s.daemon, "vr2", "198.18.60.0/24"),
      15_000,
      "vr1 and vr2 established",
    );
  });
  afterAll(async () => {
    await s?.daemon.stop();
    dir?.remove();
  });

  const TIME = "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d";

  it("show protocols: one row per neighbour, as birdc prints it", async () => {
    const r = await ctl("show", "protocols", "vr1");
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    const lines = r.out.split("\n");
    expect(lines[0]).toBe("Name        Proto      Table      State  Since                Info");
    expect(lines[1]).toMatch(
      new RegExp(`^198\\.18\\.50\\.2 BGP        ---        up     ${TIME}  Established$`),
    );
    expect(lines).toHaveLength(3);
    const json = JSON.parse((await ctl("--json", "show", "protocols", "vr1")).out);
    expect(json.neighbors[0]).toMatchObject({ name: "198.18.50.2", state: "Established" });
  });

  it("show protocols all: details and channels, as birdc prints them", async () => {
    const r = await ctl("show", "protocols", "all", "vr1", "198.18.50.2");
    expect(r.code).toBe(0);
    const out = r.out;
    expect(out).toMatch(/^Name {8}Proto/);
    for (const l of [
      "  Description:    to vr2",
      "  BGP state:          Established",
      "    Neighbor address: 198.18.50.2",
      "    Neighbor AS:      65002",
      "    Local AS:         65001",
      "    Neighbor ID:      198.18.50.2",
      "    Session:          external AS4 route-refresh",
      "    Families:         ipv4 ipv6",
      "    Source address:   198.18.50.1",
      "    Hold time:        90",
      "    Keepalive time:   30",
      "    Messages:           received      sent",
      "      OPEN                     1         1",
      "    Prefixes:         1 received, 0 rejected, 0 withdrawn, 1 accepted, 2 advertised",
      "    Flaps:            0 (established 1 time)",
      "  Channel ipv4",
      "    State:          UP",
      "    Table:          master4",
      "    Input filter:   ACCEPT",
      "    Output filter:  tag",
      "    Routes:         1 imported, 1 exported, 1 preferred",
      "    End-of-RIB:     received",
      "  Channel ipv6",
      "    Table:          master6",
      "    Routes:         0 imported, 1 exported, 0 preferred",
    ]) {
      expect(out.split("\n"), l).toContain(l);
    }
    // Another spelling of the address, and every neighbour without one.
    const again = await ctl("show", "protocols", "all", "vr2");
    expect(again.out).toMatch(/Input filter: {3}ACCEPT\n/);
    const unknown = await ctl("show", "protocols", "vr1", "198.18.50.9");
    expect(unknown).toEqual({
      code: 1,
      out: "",
      err: "vroomctl: router vr1 has no BGP neighbour 198.18.50.9 (neighbours: 198.18.50.2)\n",
    });
  });

  it("show bgp: routes with attributes, as birdc show route all", async () => {
    const r = await ctl("show", "bgp", "vr2");
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        "Table master4:",
        "198.18.60.0/24       unicast [198.18.50.1] * (20) [AS65001?]",
        "\tvia 198.18.50.1 on eth0",
        "\tType: BGP univ",
        "\tBGP.origin: Incomplete",
        "\tBGP.as_path: 65001",
        "\tBGP.next_hop: 198.18.50.1",
        "\tBGP.med: 50",
        "\tBGP.local_pref: 100",
        "\tBGP.community: (65001,100)",
        "\tBGP.large_community: (65001, 1, 2)",
        "198.18.70.0/24       unicast [static] * [?]",
        "\tType: static univ",
        "\tBGP.origin: Incomplete",
        "\tBGP.as_path: ",
        "\tBGP.local_pref: 100",
        "",
        "Table master6:",
        "2001:db8:60::/48     unicast [198.18.50.1] * (20) [AS65001?]",
        "\tvia 2001:db8:50::1 on eth0",
        "\tType: BGP univ",
        "\tBGP.origin: Incomplete",
        "\tBGP.as_path: 65001",
        "\tBGP.next_hop: 2001:db8:50::1",
        "\tBGP.med: 50",
        "\tBGP.local_pref: 100",
        "\tBGP.community: (65001,100)",
        "\tBGP.large_community: (65001, 1, 2)",
        "",
      ].join("\n"),
    );
    const out = await ctl(
      "show",
      "bgp",
      "vr1",
      "--family",
      "ipv4",
      "--neighbor",
      "198.18.50.2",
      "--out",
    );
    expect(out.out.split("\n").slice(0, 2)).toEqual([
      "Table master4 (advertised to 198.18.50.2):",
      "198.18.60.0/24       unicast [198.18.50.2] [AS65001?]",
    ]);
    const inn = await ctl(
      "show",
      "bgp",
      "vr2",
      "--neighbor",
      "198.18.50.1",
      "--in",
      "--family",
      "6",
    );
    expect(inn.out.split("\n")[0]).toBe(
      "Table master6 (received from 198.18.50.1, after import policy):",
    );
    const limited = await ctl("show", "bgp", "vr2", "--limit", "1");
    expect(limited.out).toMatch(/\n\(1 of 3 routes shown\)\n$/);
    const json = JSON.parse((await ctl("--json", "show", "bgp", "vr2", "--family", "ipv4")).out);
    expect(json).toMatchObject({ family: "ipv4", total: 2 });
    const none = await ctl(
      "show",
      "bgp",
      "vr1",
      "--neighbor",
      "198.18.50.2",
      "--in",
      "--family",
      "ipv6",
    );
    expect(none.out).toBe("no ipv6 routes (received from 198.18.50.2, after import policy)\n");
  });

  it("bgp refresh, disable with a message, enable", async () => {
    const r = await ctl("bgp", "refresh", "vr2", "198.18.50.1");
    expect(r).toEqual({
      code: 0,
      out: "vr2 198.18.50.1: route refresh sent (ipv4, ipv6)\n",
      err: "",
    });
    const six = await ctl("--json", "bgp", "refresh", "vr2", "198.18.50.1", "--family", "ipv6");
    expect(JSON.parse(six.out)).toEqual({
      router: "vr2",
      neighbor: "198.18.50.1",
      families: ["ipv6"],
    });
    const off = await ctl("bgp", "disable", "vr1", "198.18.50.2", "--message", "going away");
    expect(off).toEqual({ code: 0, out: "vr1 198.18.50.2: disabled\n", err: "" });
    await waitUntil(() => !hasRoute(s.daemon, "vr2", "198.18.60.0/24"), 5000, "routes withdrawn");
    const row = await ctl("show", "protocols", "vr1");
    expect(row.out.split("\n")[1]).toMatch(
      new RegExp(`^198\\.18\\.50\\.2 BGP +--- +down +${TIME}  Idle$`),
    );
    const peer = await ctl("show", "protocols", "vr2");
    expect(peer.out.split("\n")[1]).toMatch(
      new RegExp(
        `^198\\.18\\.50\\.1 BGP +--- +start +${TIME}  (Idle|Active|Connect) +NOTIFICATION received: cease / AdministrativeShutdown$`,
      ),
    );
    const all = await ctl("show", "protocols", "all", "vr1");
    expect(all.out).toMatch(/\n {2}Message: {8}going away\n {2}BGP state: {10}Down\n/);
    const refused = await ctl("bgp", "refresh", "vr1", "198.18.50.2");
    expect(refused).toEqual({
      code: 1,
      out: "",
      err: "vroomctl: cannot refresh 198.18.50.2 of vr1: the session is Idle, not Established\n",
    });
    const on = await ctl("bgp", "enable", "vr1", "198.18.50.2");
    expect(on).toEqual({ code: 0, out: "vr1 198.18.50.2: enabled\n", err: "" });
    await waitUntil(
      () => established(s.daemon, "vr1") && hasRoute(s.daemon, "vr2", "198.18.60.0/24"),
      10_000,
      "the session back",
    );
  });

  it("one-line errors and exit statuses", async () => {
    expect(await ctl("show", "protocols", "plain")).toEqual({
      code: 1,
      out: "",
      err: "vroomctl: router plain does not run BGP (its configuration has no bgp section)\n",
    });
    expect(await ctl("bgp", "disable", "vr1", "198.18.50.7")).toEqual({
      code: 1,
      out: "",
      err: "vroomctl: router vr1 has no BGP neighbour 198.18.50.7 (neighbours: 198.18.50.2)\n",
    });
    const both = await ctl("show", "bgp", "vr1", "--neighbor", "198.18.50.2", "--in", "--out");
    expect(both).toEqual({ code: 2, out: "", err: "vroomctl: --in and --out: one or the other\n" });
    const lone = await ctl("show", "bgp", "vr1", "--out");
    expect(lone).toEqual({ code: 2, out: "", err: "vroomctl: --out needs --neighbor ADDRESS\n" });
    expect(await ctl("show", "bgp", "vr1", "--family", "ipx")).toEqual({
      code: 2,
      out: "",
      err: "vroomctl: option '--family <family>' argument 'ipx' is invalid. Allowed choices are ipv4, ipv6.\n",
    });
    expect((await ctl("show", "protocols", "all", "vr1", "a", "b")).code).toBe(2);
    expect((await ctl("bgp", "refresh", "vr1")).code).toBe(2);
    const down = await runVroomctl(
      ["--socket", dir.join("none.sock"), "bgp", "enable", "vr1", "x"],
      {
        stdout: () => {},
        stderr: () => {},
      },
    );
    expect(down).toBe(3);
  });
});

describe("BGP across two daemons: shutdown, removal and rebuild say goodbye", () => {
  let dir: TempDir;
  let a: Started;
  let b: Started;

  const vr2Neighbor = () => b.daemon.router("vr2")!.bgp!.neighbors()[0];

  async function startPair(): Promise<void> {
    a = await startDaemon(dir, bgpConfig({ which: "vr1", name: "hv-a" }), "a.yaml");
    b = await startDaemon(dir, bgpConfig({ which: "vr2", name: "hv-b" }), "b.yaml");
    joinMemoryLinks(a.daemon, "wa", b.daemon, "wb");
    await waitUntil(
      () => established(a.daemon, "vr1") && established(b.daemon, "vr2"),
      15_000,
      "the session between the daemons",
    );
  }

  beforeAll(() => {
    dir = new TempDir();
  });
  afterAll(async () => {
    await a?.daemon.stop();
    await b?.daemon.stop();
    dir?.remove();
  });

  it("on stop, sends a Cease and waits for the TCP close before closing the links", async () => {
    await startPair();
    const r1: VirtualRouter = a.daemon.router("vr1")!;
    expect(openConnections(r1)).toBe(1);
    const t0 = Date.now();
    await a.daemon.stop();
    const took = Date.now() - t0;
    expect(took).toBeLessThan(1500);
    expect(vr2Neighbor().lastError).toMatchObject({
      direction: "received",
      code: 6,
      subcode: 2,
    });
    expect(vr2Neighbor().state).not.toBe("Established");
    expect(openConnections(r1)).toBe(0);
    expect(a.logs.messages()).toContain("BGP sessions closed");
    const closed = a.logs.lines.find((l) => l.msg === "BGP sessions closed");
    expect(closed!.waitedMs as number).toBeLessThan(1000);
    // The down event was logged before the daemon stopped.
    const msgs = a.logs.messages();
    expect(msgs.indexOf("BGP session down")).toBeGreaterThan(-1);
    expect(msgs.indexOf("BGP session down")).toBeLessThan(msgs.indexOf("vroomd stopped"));
    await b.daemon.stop();
  });

  it("a reload that rebuilds the router sends a Cease first, then the new router peers again", async () => {
    await startPair();
    const notificationsBefore = vr2Neighbor().messagesIn.notification;
    const old = a.daemon.router("vr1")!;
    writeFileSync(
      a.file,
      bgpConfig({
        which: "vr1",
        name: "hv-a",
        vr1Extra: "      - { prefix: 198.18.61.0/24, action: blackhole }\n",
      }),
    );
    const report = await a.daemon.reload();
    expect(report).toMatchObject({
      ok: true,
      changes: ["router vr1 rebuilt (staticRoutes changed)"],
    });
    expect(a.daemon.router("vr1")).not.toBe(old);
    await waitUntil(
      () => vr2Neighbor().messagesIn.notification > notificationsBefore,
      5000,
      "vr2 to receive the Cease",
    );
    expect(vr2Neighbor().lastError).toMatchObject({ code: 6, subcode: 2 });
    await waitUntil(
      () => established(a.daemon, "vr1") && hasRoute(b.daemon, "vr2", "198.18.61.0/24"),
      15_000,
      "the rebuilt router to peer again",
    );
  });

  it("a reload that removes the router sends a Cease", async () => {
    const notificationsBefore = vr2Neighbor().messagesIn.notification;
    writeFileSync(
      a.file,
      bgpConfig({ which: "vr1", name: "hv-a" }).replace(/routers:[\s\S]*$/, "routers: []\n"),
    );
    const report = await a.daemon.reload();
    expect(report).toMatchObject({ ok: true, changes: ["router vr1 removed"] });
    await waitUntil(
      () => vr2Neighbor().messagesIn.notification > notificationsBefore,
      5000,
      "vr2 to receive the Cease",
    );
    expect(vr2Neighbor().lastError).toMatchObject({ code: 6, subcode: 2 });
    await settle(50);
    expect(hasRoute(b.daemon, "vr2", "198.18.60.0/24")).toBe(false);
    await a.daemon.stop();
    await b.daemon.stop();
  });
});
