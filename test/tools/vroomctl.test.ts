/**
 * vroomctl: its formatters on fixed data (the `ip route`, `birdc show
 * route`, `ip neigh` and `ip addr` shapes), then every command run
 * in-process against an in-process daemon, checking what it prints, that
 * `--json` gives the API's data, that errors are one line on stderr, and
 * the exit statuses (0 done, 1 refused, 2 usage, 3 unreachable).
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVroomctl } from "../../tools/vroomctl/cli.ts";
import {
  fibIp,
  interfacesIp,
  neighborsIp,
  routesBird,
  routesIp,
  table,
} from "../../tools/vroomctl/format.ts";
import type { RouteView } from "../../tools/vroomd/views.ts";
import {
  baseConfig,
  collect,
  inject,
  type Started,
  settle,
  startDaemon,
  TempDir,
  vroomctl,
} from "./helpers.ts";

const ROUTES: RouteView[] = [
  {
    prefix: "0.0.0.0/0",
    family: 4,
    source: "static",
    distance: 1,
    best: true,
    type: "unicast",
    interface: "eth1",
    via: "198.18.11.2",
  },
  {
    prefix: "198.18.10.0/24",
    family: 4,
    source: "connected",
    distance: 0,
    best: true,
    type: "unicast",
    interface: "eth0",
  },
  {
    prefix: "198.18.10.0/24",
    family: 4,
    source: "static",
    distance: 5,
    best: false,
    type: "blackhole",
  },
  { prefix: "198.18.10.1/32", family: 4, source: "local", distance: 0, best: true, type: "local" },
  {
    prefix: "198.18.99.0/24",
    family: 4,
    source: "static",
    distance: 1,
    best: true,
    type: "prohibit",
  },
  {
    prefix: "2001:db8:10::/64",
    family: 6,
    source: "connected",
    distance: 0,
    best: true,
    type: "unicast",
    interface: "eth0",
  },
  {
    prefix: "2001:db8:10::1/128",
    family: 6,
    source: "local",
    distance: 0,
    best: true,
    type: "local",
  },
];

describe("vroomctl formats", () => {
  it("prints routes as ip route does", () => {
    expect(routesIp(ROUTES)).toBe(
      [
        "default via 198.18.11.2 dev eth1 proto static metric 1",
        "198.18.10.0/24 dev eth0 proto kernel scope link",
        "local 198.18.10.1 proto kernel scope host",
        "prohibit 198.18.99.0/24 proto static metric 1",
        "2001:db8:10::/64 dev eth0 proto kernel scope link",
        "local 2001:db8:10::1 proto kernel scope host",
      ].join("\n"),
    );
  });

  it("prints routes as birdc show route does", () => {
    expect(routesBird(ROUTES)).toBe(
      [
        "Table master4:",
        "0.0.0.0/0            unicast [static] * (1)",
        "\tvia 198.18.11.2 on eth1",
        "198.18.10.0/24       unicast [direct] * (0)",
        "\tdev eth0",
        "                     blackhole [static] (5)",
        "198.18.10.1/32       local [local] * (0)",
        "198.18.99.0/24       prohibited [static] * (1)",
        "",
        "Table master6:",
        "2001:db8:10::/64     unicast [direct] * (0)",
        "\tdev eth0",
        "2001:db8:10::1/128   local [local] * (0)",
      ].join("\n"),
    );
  });

  it("prints the FIB, neighbours, interfaces and tables", () => {
    expect(fibIp([{ prefix: "198.18.0.0/15", family: 4, type: "blackhole" }])).toBe(
      "blackhole 198.18.0.0/15",
    );
    expect(
      neighborsIp([
        {
          interface: "eth1",
          family: 4,
          address: "198.18.21.5",
          mac: "02:00:00:00:00:05",
          state: "reachable",
          probes: 0,
          pending: 0,
        },
        {
          interface: "eth1",
          family: 6,
          address: "2001:db8::5",
          state: "incomplete",
          probes: 2,
          pending: 1,
        },
      ]),
    ).toBe(
      "198.18.21.5 dev eth1 lladdr 02:00:00:00:00:05 REACHABLE\n2001:db8::5 dev eth1 INCOMPLETE",
    );
    expect(
      interfacesIp([
        {
          index: 1,
          name: "eth1",
          layer: "l2",
          mtu: 1500,
          mac: "02:00:00:00:00:01",
          addresses: ["198.18.21.1/24"],
          linkLocal: "fe80::ff:fe00:1",
          link: null,
          counters: {
            rxPackets: 1,
            rxBytes: 60,
            txPackets: 2,
            txBytes: 120,
            icmpSuppressed: 0,
            drops: { "no-route": 3 },
          },
        },
      ]),
    ).toBe(
      [
        "1: eth1: <L2> mtu 1500 link (unbound)",
        "    link/ether 02:00:00:00:00:01",
        "    inet 198.18.21.1/24",
        "    inet6 fe80::ff:fe00:1/64 scope link",
        "    RX: 1 packets, 60 bytes  TX: 2 packets, 120 bytes",
        "    drops: no-route 3",
      ].join("\n"),
    );
    expect(
      table(
        ["A", "BB"],
        [
          ["x", 1],
          ["yyy", 22],
        ],
      ),
    ).toBe("A    BB\nx    1\nyyy  22");
  });
});

describe("vroomctl against a daemon", () => {
  let dir: TempDir;
  let s: Started;
  let socket: string;

  const ctl = (...args: string[]) => vroomctl(args);
  const run = (...args: string[]) => ctl("--socket", socket, ...args);

  beforeAll(async () => {
    dir = new TempDir();
    s = await startDaemon(dir, baseConfig());
    socket = s.daemon.socketPath;
    collect(s.daemon, "m1");
    inject(s.daemon, "m0", 4, "198.18.10.2", "198.18.100.1");
    await settle();
  });
  afterAll(async () => {
    await s.daemon.stop();
    dir.remove();
  });

  it("status, router list and router show", async () => {
    const st = await run("status");
    expect(st.code).toBe(0);
    expect(st.out).toMatch(/^vroomd \S+ on hypervisor test-hv, pid \d+, up/);
    expect(st.out).toMatch(/1 routers, 4 links, 2 bindings, 0 switching rules/);
    const list = await run("router", "list");
    expect(list.out).toBe(
      "NAME  ORIGIN  INTERFACES  BOUND  FIB4  FIB6  RX  TX  DROPS\nvr1   config  2           2      5     0     4   4   0\n",
    );
    const show = await run("router", "show", "vr1");
    expect(show.out).toMatch(/^router vr1 \(configuration file, since /);
    expect(show.out).toMatch(/eth1\s+l3\s+1500\s+m1\s+198\.18\.11\.1\/24/);
    const json = await run("--json", "router", "list");
    expect(JSON.parse(json.out).routers[0]).toMatchObject({ name: "vr1", rxPackets: 4 });
    // --json after the command works too.
    expect(JSON.parse((await run("router", "list", "--json")).out).routers).toHaveLength(1);
  });

  it("show routes (bird and ip), fib, interfaces, neighbours", async () => {
    const bird = await run("show", "routes", "vr1");
    expect(bird.out).toMatch(
      /^Table master4:\n198\.18\.10\.0\/24\s+unicast \[direct\] \* \(0\)\n\tdev eth0\n/,
    );
    expect(bird.out).toContain(
      "198.18.100.0/24      unicast [static] * (1)\n\tvia 198.18.11.2 on eth1",
    );
    const ip = await run("show", "routes", "vr1", "--format", "ip");
    expect(ip.out).toContain("198.18.100.0/24 via 198.18.11.2 dev eth1 proto static metric 1\n");
    const fib = await run("show", "fib", "vr1", "--family", "4", "--limit", "2");
    expect(fib.out).toBe("198.18.10.0/24 dev eth0 scope link\nlocal 198.18.10.1 scope host\n");
    const ifs = await run("show", "interfaces", "vr1");
    expect(ifs.out).toContain(
      "0: eth0: <L3> mtu 1500 link m0\n    inet 198.18.10.1/24\n    RX: 4 packets",
    );
    const neigh = await run("show", "neighbors", "vr1");
    expect(neigh).toEqual({ code: 0, out: "", err: "" });
    const jroutes = JSON.parse((await run("--json", "show", "routes", "vr1", "--family", "4")).out);
    expect(jroutes.routes.every((r: { family: number }) => r.family === 4)).toBe(true);
    const bad = await run("show", "routes", "vr1", "--format", "cisco");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^vroomctl: option '--format <format>' argument 'cisco' is invalid/);
  });

  it("creates from a YAML file, binds, rebinds, unbinds and deletes a router", async () => {
    const file = dir.file(
      "vr5.yaml",
      "name: vr5\ninterfaces:\n  - { name: a, layer: l3, addresses: [198.18.50.1/24], link: m2 }\n  - { name: b, layer: l2 }\n",
    );
    const made = await run("router", "create", "-f", file);
    expect(made).toEqual({ code: 0, out: "router vr5 created (2 interfaces, 1 bound)\n", err: "" });
    expect((await run("bind", "vr5", "b", "e0")).out).toBe("vr5/b bound to e0\n");
    expect((await run("link", "list")).out).toMatch(/e0\s+memory\s+l2\s+-\s+vr5\/b/);
    expect((await run("unbind", "vr5", "a")).out).toBe("vr5/a unbound from m2\n");
    const rebindUnbound = await run("rebind", "vr5", "a", "m2");
    expect(rebindUnbound.code).toBe(1);
    expect(rebindUnbound.err).toBe("vroomctl: vr5/a has no link to rebind (bind it first)\n");
    expect((await run("bind", "vr5", "a", "m2")).code).toBe(0);
    expect((await run("rebind", "vr1", "eth1", "m1")).out).toBe("vr1/eth1 bound to m1\n");
    const linkShow = await run("link", "show", "m2");
    expect(linkShow.out).toMatch(/^link m2: memory \(L3\)\n {2}bound to: vr5\/a; switched to: -/);
    expect((await run("router", "delete", "vr5")).out).toBe("router vr5 deleted\n");
    expect((await run("router", "delete", "vr5")).code).toBe(1);
  });

  it("reports a bad router file with file:line on stderr and exits 1, sending nothing", async () => {
    const file = dir.file(
      "bad.yaml",
      "name: vr6\ninterfaces:\n  - { name: a, layer: l3, mtu: 1 }\n  - { name: b, layer: l9 }\n",
    );
    const r = await run("router", "create", "-f", file);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    const lines = r.err.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^vroomctl: ${file}:3:\\d+: interfaces\\.0\\.mtu: `));
    expect(lines[1]).toMatch(new RegExp(`^vroomctl: ${file}:4:\\d+: interfaces\\.1\\.layer: `));
    expect((await run("router", "list")).out).not.toContain("vr6");
    const missing = await run("router", "create", "-f", dir.join("none.yaml"));
    expect(missing).toMatchObject({
      code: 1,
      err: `vroomctl: cannot read ${dir.join("none.yaml")}: ENOENT\n`,
    });
  });

  it("switch add, list and del", async () => {
    expect((await run("switch", "add", "m2", "m1")).out).toBe("switching m2 -> m1 added\n");
    expect((await run("switch", "add", "m2", "m0", "--replace")).out).toBe(
      "switching m2 -> m0 (was -> m1)\n",
    );
    expect((await run("switch", "list")).out).toBe("FROM  TO  ORIGIN\nm2    m0  api\n");
    const dup = await run("switch", "add", "m2", "m1");
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/^vroomctl: link m2 is already switched to m0/);
    expect((await run("switch", "del", "m2")).out).toBe("switching m2 -> m0 removed\n");
    expect((await run("switch", "list")).out).toBe("no switching rules\n");
  });

  it("reload: applied, then refused with file:line and exit 1", async () => {
    expect((await run("reload")).out).toBe(`reloaded ${s.file}: nothing changed\n`);
    writeFileSync(s.file, baseConfig().replace("m2, kind: memory", "m2, kind: memory, mtu: 9"));
    const r = await run("reload");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `^vroomctl: reload refused: ${s.file}:\\d+:\\d+: links\\.2\\.mtu: unknown field 'mtu'\\n$`,
      ),
    );
    const j = await run("--json", "reload");
    expect(j.code).toBe(1);
    expect(JSON.parse(j.out)).toMatchObject({ ok: false });
    writeFileSync(s.file, baseConfig());
  });

  it("exit statuses and one-line errors", async () => {
    const unknown = await run("show", "routes", "nope");
    expect(unknown).toEqual({
      code: 1,
      out: "",
      err: "vroomctl: no router nope here (routers: vr1)\n",
    });
    const usage = await run("router", "show");
    expect(usage.code).toBe(2);
    expect(usage.err).toBe("vroomctl: missing required argument 'name'\n");
    expect((await run("frobnicate")).code).toBe(2);
    expect((await ctl()).code).toBe(2);
    const down = await ctl("--socket", dir.join("nothing.sock"), "status");
    expect(down).toEqual({
      code: 3,
      out: "",
      err: `vroomctl: cannot reach vroomd: no socket at ${dir.join("nothing.sock")} (is vroomd running? --socket PATH)\n`,
    });
    const noToken = await ctl("--url", "http://127.0.0.1:1", "status");
    expect(noToken).toMatchObject({
      code: 2,
      err: "vroomctl: --url needs --token-file (the TCP API requires a token)\n",
    });
    const help = await ctl("--help");
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Usage: vroomctl/);
    expect((await run("metrics")).out).toMatch(/vroom_router_fib_routes/);
  });
});

describe("vroomctl over TCP", () => {
  it("sends the token from --token-file, and a wrong one is refused with exit 1", async () => {
    const dir = new TempDir();
    const token = "tcp-token-0123456789abcdef";
    dir.file("token", token, 0o600);
    dir.file("wrong", "not-the-token-0123456789", 0o600);
    const s = await startDaemon(
      dir,
      baseConfig().replace(
        "api: { socket: ./vroomd.sock }",
        `api: { socket: ./vroomd.sock, tcp: { listen: "127.0.0.1:0", tokenFile: ./token } }`,
      ),
    );
    try {
      const url = `http://${s.daemon.tcpAddress}`;
      let out = "";
      let err = "";
      const io = {
        stdout: (t: string) => {
          out += t;
        },
        stderr: (t: string) => {
          err += t;
        },
      };
      expect(
        await runVroomctl(["--url", url, "--token-file", dir.join("token"), "router", "list"], io),
      ).toBe(0);
      expect(out).toMatch(/^NAME\s+ORIGIN/);
      expect(
        await runVroomctl(["--url", url, "--token-file", dir.join("wrong"), "status"], io),
      ).toBe(1);
      expect(err).toBe("vroomctl: a valid bearer token is required\n");
    } finally {
      await s.daemon.stop();
      dir.remove();
    }
  });
});
