/**
 * The management API against a daemon started in-process on a Unix socket
 * in a temporary directory, over in-memory links (no root needed): every
 * route, forwarding seen through the counters, router creation and
 * deletion, binding and switching changes, bad requests that change
 * nothing, the socket's mode, the TCP listener's bearer token, and the
 * metrics on both listeners.
 */
import { execFileSync } from "node:child_process";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfigText } from "../../tools/vroomd/config.ts";
import { Daemon, DaemonStartError } from "../../tools/vroomd/daemon.ts";
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
let sock: { socket: string };

const VR2 = {
  name: "vr2",
  interfaces: [
    { name: "eth0", layer: "l3", addresses: ["198.18.20.1/24"], link: "m2" },
    { name: "eth1", layer: "l2", addresses: ["198.18.21.1/24", "2001:db8:21::1/64"], link: "e0" },
  ],
  staticRoutes: [{ prefix: "198.18.99.0/24", action: "reject" }],
};

beforeEach(async () => {
  dir = new TempDir();
  s = await startDaemon(dir, baseConfig());
  sock = { socket: s.daemon.socketPath };
});

afterEach(async () => {
  await s?.daemon.stop();
  dir.remove();
});

describe("vroomd API: reading", () => {
  it("listens on a Unix socket of mode 0600", () => {
    const st = statSync(sock.socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it("answers status, routers, one router, interfaces, routes and the FIB", async () => {
    const st = await http(sock, "GET", "/v1/status");
    expect(st.status).toBe(200);
    expect(st.json).toMatchObject({
      hypervisor: "test-hv",
      configFile: s.file,
      counts: { routers: 1, links: 4, bindings: 2, switchingRules: 0 },
      lastReload: null,
    });
    const list = await http(sock, "GET", "/v1/routers");
    expect(list.json.routers).toEqual([
      {
        name: "vr1",
        origin: "config",
        interfaces: 2,
        bound: 2,
        fib: { ipv4: 5, ipv6: 0 },
        rxPackets: 0,
        txPackets: 0,
        drops: 0,
      },
    ]);
    const one = await http(sock, "GET", "/v1/routers/vr1");
    expect(one.json.config.interfaces[0]).toMatchObject({ name: "eth0", link: "m0" });
    expect(one.json.interfaceList.map((i: { link: string }) => i.link)).toEqual(["m0", "m1"]);
    expect(one.json.rib).toEqual({ prefixes: 5 });
    const routes = await http(sock, "GET", "/v1/routers/vr1/routes");
    expect(routes.json.routes).toContainEqual({
      prefix: "198.18.100.0/24",
      family: 4,
      source: "static",
      distance: 1,
      best: true,
      type: "unicast",
      interface: "eth1",
      via: "198.18.11.2",
    });
    const fib = await http(sock, "GET", "/v1/routers/vr1/fib?family=4&limit=2");
    expect(fib.json.total).toEqual({ ipv4: 5, ipv6: 0 });
    expect(fib.json.entries).toEqual([
      { prefix: "198.18.10.0/24", family: 4, type: "unicast", interface: "eth0" },
      { prefix: "198.18.10.1/32", family: 4, type: "local" },
    ]);
    expect((await http(sock, "GET", "/v1/routers/vr1/fib?family=5")).status).toBe(400);
    expect((await http(sock, "GET", "/v1/routers/vr1/fib?limit=x")).status).toBe(400);
    const links = await http(sock, "GET", "/v1/links");
    expect(
      links.json.links.map((l: { name: string; boundTo?: string }) => [l.name, l.boundTo]),
    ).toEqual([
      ["e0", undefined],
      ["m0", "vr1/eth0"],
      ["m1", "vr1/eth1"],
      ["m2", undefined],
    ]);
    expect((await http(sock, "GET", "/v1/links/m0")).json).toMatchObject({
      kind: "memory",
      layer: "l3",
    });
    expect((await http(sock, "GET", "/v1/links/zz")).json.error.code).toBe("UnknownLink");
  });

  it("counts forwarded packets per interface and shows them in the API and the metrics", async () => {
    const out = collect(s.daemon, "m1");
    inject(s.daemon, "m0", 7, "198.18.10.2", "198.18.100.9");
    await settle();
    expect(out).toHaveLength(7);
    expect(out[0][8]).toBe(63); // TTL decremented
    const ifs = await http(sock, "GET", "/v1/routers/vr1/interfaces");
    expect(ifs.json.interfaces[0].counters).toMatchObject({ rxPackets: 7 });
    expect(ifs.json.interfaces[1].counters).toMatchObject({ txPackets: 7 });
    inject(s.daemon, "m0", 2, "198.18.10.2", "203.0.113.1"); // no route
    await settle();
    const metrics = await http(sock, "GET", "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.headers["content-type"]).toMatch(/^text\/plain/);
    const m = metrics.text;
    expect(m).toMatch(
      /vroom_router_interface_packets_total\{router="vr1",interface="eth0",direction="rx",hypervisor="test-hv"\} 9/,
    );
    expect(m).toMatch(
      /vroom_router_interface_packets_total\{router="vr1",interface="eth1",direction="tx",hypervisor="test-hv"\} 7/,
    );
    expect(m).toMatch(
      /vroom_router_interface_drops_total\{router="vr1",interface="eth0",reason="no-route",hypervisor="test-hv"\} 2/,
    );
    expect(m).toMatch(/vroom_router_fib_routes\{router="vr1",family="4",hypervisor="test-hv"\} 5/);
    expect(m).toMatch(
      /vroom_hypervisor_link_packets_total\{link="m0",kind="memory",direction="rx",hypervisor="test-hv"\} 9/,
    );
    expect(m).toMatch(/vroom_hypervisor_routers\{hypervisor="test-hv"\} 1/);
    expect(m).toMatch(/process_cpu_user_seconds_total/);
  });

  it("serves its OpenAPI document", async () => {
    const doc = await http(sock, "GET", "/v1/openapi.json");
    expect(doc.json.openapi).toBe("3.1.0");
    expect(Object.keys(doc.json.paths)).toContain("/v1/routers/{name}/routes");
  });
});

describe("vroomd API: changing", () => {
  it("creates a router that binds its links, stores it, lists it, and deletes it", async () => {
    const made = await http(sock, "POST", "/v1/routers", VR2);
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ name: "vr2", origin: "api", interfaces: 2, bound: 2 });
    const file = dir.join("state", "routers", "vr2.json");
    expect(existsSync(file)).toBe(true);
    const list = await http(sock, "GET", "/v1/routers");
    expect(
      list.json.routers.map((r: { name: string; origin: string }) => `${r.name}:${r.origin}`),
    ).toEqual(["vr1:config", "vr2:api"]);
    // A packet towards an unresolved neighbour on the L2 interface starts ARP.
    const arp = collect(s.daemon, "e0");
    inject(s.daemon, "m2", 1, "198.18.20.2", "198.18.21.5");
    await settle();
    expect(arp.length).toBeGreaterThan(0);
    expect((arp[0][12] << 8) | arp[0][13]).toBe(0x0806);
    const neigh = await http(sock, "GET", "/v1/routers/vr2/neighbors");
    expect(neigh.json.neighbors).toEqual([
      {
        interface: "eth1",
        family: 4,
        address: "198.18.21.5",
        state: "incomplete",
        probes: 1,
        pending: 1,
      },
    ]);
    const ifs = await http(sock, "GET", "/v1/routers/vr2/interfaces");
    expect(ifs.json.interfaces[1]).toMatchObject({ layer: "l2", link: "e0" });
    expect(ifs.json.interfaces[1].mac).toMatch(/^02:/);
    expect(ifs.json.interfaces[1].linkLocal).toMatch(/^fe80::/);

    const del = await http(sock, "DELETE", "/v1/routers/vr2");
    expect(del.status).toBe(200);
    expect(del.json).toEqual({ deleted: "vr2" });
    expect(existsSync(file)).toBe(false);
    expect((await http(sock, "GET", "/v1/routers/vr2")).status).toBe(404);
    // Its links are free again.
    const links = await http(sock, "GET", "/v1/links");
    expect(links.json.links.find((l: { name: string }) => l.name === "m2").boundTo).toBeUndefined();
  });

  it("refuses bad router requests and changes nothing", async () => {
    const before = (await http(sock, "GET", "/v1/status")).json.counts;
    const invalid = await http(sock, "POST", "/v1/routers", {
      name: "vr3",
      interfaces: [{ name: "e", layer: "l3", addresses: ["198.18.1.1/40"] }],
    });
    expect(invalid.status).toBe(422);
    expect(invalid.json.error.code).toBe("InvalidConfig");
    expect(invalid.json.error.message).toMatch(/interfaces\.0\.addresses\.0/);
    expect(invalid.json.error.details.issues[0].path).toBe("interfaces.0.addresses.0");
    const dup = await http(sock, "POST", "/v1/routers", { ...VR2, name: "vr1" });
    expect(dup.status).toBe(409);
    expect(dup.json.error.message).toMatch(/vr1 already exists \(in .*vroomd\.yaml\)/);
    // m0 is vr1's: the new router's binding fails, and the router is not left behind.
    const taken = await http(sock, "POST", "/v1/routers", {
      name: "vr3",
      interfaces: [
        { name: "a", layer: "l3", link: "m2" },
        { name: "b", layer: "l3", link: "m0" },
      ],
    });
    expect(taken.status).toBe(409);
    expect(taken.json.error).toMatchObject({ code: "AlreadyBound" });
    expect(taken.json.error.message).toMatch(/link m0 already carries vr1\/eth0/);
    const unknownLink = await http(sock, "POST", "/v1/routers", {
      name: "vr3",
      interfaces: [{ name: "a", layer: "l3", link: "nope" }],
    });
    expect(unknownLink.status).toBe(404);
    expect((await http(sock, "POST", "/v1/routers", "{not json")).status).toBe(400);
    expect((await http(sock, "POST", "/v1/routers", [1])).status).toBe(400);
    const text = await http(sock, "POST", "/v1/routers", "name=x", {
      "content-type": "text/plain",
    });
    expect(text.status).toBe(415);
    const big = await http(sock, "POST", "/v1/routers", { pad: "x".repeat(1 << 20) });
    expect(big.status).toBe(413);
    expect((await http(sock, "GET", "/v1/status")).json.counts).toEqual(before);
    expect(existsSync(dir.join("state", "routers", "vr3.json"))).toBe(false);
    const del = await http(sock, "DELETE", "/v1/routers/vr1");
    expect(del.status).toBe(409);
    expect(del.json.error.message).toMatch(/comes from .*vroomd\.yaml: remove it there and reload/);
  });

  it("binds, rebinds and unbinds interfaces, refusing what the binding table refuses", async () => {
    const path = "/v1/routers/vr1/interfaces/eth1/link";
    const again = await http(sock, "PUT", path, { link: "m2" });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("AlreadyBound");
    const moved = await http(sock, "PUT", path, { link: "m2", rebind: true });
    expect(moved.json).toEqual({ router: "vr1", interface: "eth1", link: "m2", previous: "m1" });
    const out = collect(s.daemon, "m2");
    inject(s.daemon, "m0", 3, "198.18.10.2", "198.18.100.1");
    await settle();
    expect(out).toHaveLength(3);
    const layer = await http(sock, "PUT", path, { link: "e0", rebind: true });
    expect(layer.status).toBe(422);
    expect(layer.json.error.code).toBe("LayerMismatch");
    expect((await http(sock, "PUT", path, { link: "zz", rebind: true })).status).toBe(404);
    expect(
      (await http(sock, "PUT", "/v1/routers/vr1/interfaces/eth9/link", { link: "m1" })).json.error
        .code,
    ).toBe("UnknownInterface");
    const badBody = await http(sock, "PUT", path, { link: "m1", force: true });
    expect(badBody.status).toBe(400);
    expect(badBody.json.error.message).toMatch(/unknown field 'force'/);
    const un = await http(sock, "DELETE", path);
    expect(un.json).toEqual({ router: "vr1", interface: "eth1", previous: "m2" });
    expect((await http(sock, "DELETE", path)).json.error.code).toBe("NotBound");
    const bound = await http(sock, "PUT", path, { link: "m1" });
    expect(bound.json.previous).toBeNull();
  });

  it("adds, lists, replaces and removes switching rules", async () => {
    const add = await http(sock, "POST", "/v1/switching", { from: "m2", to: "m1" });
    expect(add.status).toBe(201);
    expect(add.json).toEqual({ from: "m2", to: "m1", origin: "api", previous: null });
    const out = collect(s.daemon, "m1");
    inject(s.daemon, "m2", 4, "198.18.77.1", "198.18.77.2");
    await settle();
    expect(out).toHaveLength(4);
    expect(out[0][8]).toBe(64); // switched unchanged, no router
    expect(
      (await http(sock, "POST", "/v1/switching", { from: "m2", to: "m0" })).json.error.code,
    ).toBe("DuplicateRule");
    const replaced = await http(sock, "POST", "/v1/switching", {
      from: "m2",
      to: "m0",
      replace: true,
    });
    expect(replaced.json.previous).toBe("m1");
    expect((await http(sock, "GET", "/v1/switching")).json.rules).toEqual([
      { from: "m2", to: "m0", origin: "api" },
    ]);
    expect(
      (await http(sock, "POST", "/v1/switching", { from: "m0", to: "m0" })).json.error.code,
    ).toBe("SelfLoop");
    expect(
      (await http(sock, "POST", "/v1/switching", { from: "m0", to: "e0" })).json.error.code,
    ).toBe("LayerMismatch");
    expect((await http(sock, "DELETE", "/v1/switching/m2")).json).toEqual({ from: "m2", to: "m0" });
    expect((await http(sock, "DELETE", "/v1/switching/m2")).status).toBe(404);
  });
});

describe("vroomd API: protocol errors", () => {
  it("answers unknown paths 404, wrong methods 405 with Allow, GET bodies 400", async () => {
    const nf = await http(sock, "GET", "/v2/status");
    expect(nf.status).toBe(404);
    expect(nf.json).toEqual({
      error: { code: "NotFound", message: "no such API path: /v2/status" },
    });
    const na = await http(sock, "PATCH", "/v1/routers");
    expect(na.status).toBe(405);
    expect(na.headers.allow).toBe("GET, POST");
    expect((await http(sock, "GET", "/v1/status", { a: 1 })).status).toBe(400);
    expect((await http(sock, "GET", "/v1/routers/%E0%A4%A")).status).toBe(400);
  });
});

describe("vroomd API over TCP", () => {
  it("requires the bearer token, re-reads the token file on reload, serves metrics on its own listener", async () => {
    await s.daemon.stop();
    const token = "a-token-of-thirty-two-characters";
    const tokenFile = dir.file("token", `${token}\n`, 0o600);
    const text = baseConfig().replace(
      "api: { socket: ./vroomd.sock }",
      `api: { socket: ./vroomd.sock, tcp: { listen: "127.0.0.1:0", tokenFile: ./token } }\n  metrics: { listen: "127.0.0.1:0" }`,
    );
    s = await startDaemon(dir, text);
    const [host, port] = s.daemon.tcpAddress!.split(":");
    const tcp = { host, port: Number(port) };
    const none = await http(tcp, "GET", "/v1/status");
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(none.json.error.code).toBe("Unauthorized");
    const wrong = await http(tcp, "GET", "/v1/status", undefined, {
      authorization: `Bearer ${token}x`,
    });
    expect(wrong.status).toBe(401);
    const basic = await http(tcp, "GET", "/v1/status", undefined, {
      authorization: `Basic ${token}`,
    });
    expect(basic.status).toBe(401);
    // An unauthenticated request changes nothing.
    const post = await http(tcp, "POST", "/v1/routers", VR2);
    expect(post.status).toBe(401);
    const ok = await http(tcp, "GET", "/v1/routers", undefined, {
      authorization: `Bearer ${token}`,
    });
    expect(ok.status).toBe(200);
    expect(ok.json.routers).toHaveLength(1);
    // The Unix socket needs no token.
    expect((await http(sock, "GET", "/v1/status")).json.api.tcp).toBe(s.daemon.tcpAddress);

    const next = "another-token-of-enough-length-1";
    writeFileSync(tokenFile, next);
    const r = await s.daemon.reload();
    expect(r.ok).toBe(true);
    expect(
      (await http(tcp, "GET", "/v1/status", undefined, { authorization: `Bearer ${token}` }))
        .status,
    ).toBe(401);
    expect(
      (await http(tcp, "GET", "/v1/status", undefined, { authorization: `Bearer ${next}` })).status,
    ).toBe(200);

    const [mh, mp] = s.daemon.metricsAddress!.split(":");
    const metrics = await http({ host: mh, port: Number(mp) }, "GET", "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/vroom_info\{version="[^"]+",hypervisor="test-hv"\} 1/);
    expect((await http({ host: mh, port: Number(mp) }, "GET", "/v1/status")).status).toBe(404);
  });

  it("refuses to start with a short token or a missing token file", async () => {
    await s.daemon.stop();
    dir.file("short", "abc\n", 0o600);
    for (const [tokenFile, msg] of [
      ["./short", /at least 16 characters/],
      ["./missing", /cannot read .*missing: ENOENT/],
    ] as const) {
      const text = baseConfig().replace(
        "api: { socket: ./vroomd.sock }",
        `api: { socket: ./vroomd.sock, tcp: { listen: "127.0.0.1:0", tokenFile: ${tokenFile} } }`,
      );
      const cfg = parseConfigText(text, dir.join("vroomd.yaml"));
      if (!cfg.ok) throw new Error("bad test config");
      await expect(Daemon.start({ config: cfg.config })).rejects.toThrow(msg);
      expect(existsSync(dir.join("vroomd.sock"))).toBe(false);
    }
  });
});

describe("vroomd API socket", () => {
  it("refuses a second daemon on a socket a live daemon answers on", async () => {
    const other = baseConfig().replace("stateDir: ./state", "stateDir: ./state2");
    const cfg = parseConfigText(other, dir.join("other.yaml"));
    if (!cfg.ok) throw new Error("bad test config");
    const err = await Daemon.start({ config: cfg.config }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonStartError);
    expect(String((err as Error).message)).toMatch(/another vroomd answers on/);
    // The first daemon is untouched.
    expect((await http(sock, "GET", "/v1/status")).status).toBe(200);
  });

  it("replaces a socket file a dead daemon left, and removes its own on stop", async () => {
    await s.daemon.stop();
    expect(existsSync(sock.socket)).toBe(false);
    // A socket file nobody listens on, as a killed daemon leaves it.
    execFileSync("python3", [
      "-c",
      "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
      sock.socket,
    ]);
    expect(statSync(sock.socket).isSocket()).toBe(true);
    s = await startDaemon(dir, baseConfig());
    expect((await http(sock, "GET", "/v1/status")).status).toBe(200);
  });
});
