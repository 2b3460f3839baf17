/**
 * vroomd's configuration loader: a full good file, defaults and relative
 * paths, and every kind of bad file — YAML syntax, wrong types, unknown
 * fields, bad values in the router's own section, and cross-section
 * problems — each answered with file:line:column and the field's path.
 */
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  checkRouterSection,
  loadConfigFile,
  parseConfigText,
  parseListen,
  parseRouterText,
} from "../../tools/vroomd/config.ts";
import { TempDir } from "./helpers.ts";

const GOOD = `# a full configuration
hypervisor:
  name: pr1
  stateDir: /var/lib/vroom
  arenaMiB: 32
  api: { socket: /run/vroom/vroomd.sock, tcp: { listen: "127.0.0.1:7179", tokenFile: /etc/vroom/token } }
  log: { level: debug, format: pretty }
  metrics: { listen: "[::1]:9179" }
vxlan: { listen: "198.18.1.1:4789" }
links:
  - { name: tun-a, kind: tun, device: vra0, mtu: 1400 }
  - { name: tap-b, kind: tap, device: vrb0, mac: "02:00:00:00:00:01" }
  - { name: vx100, kind: vxlan, vni: 100, remotes: ["198.18.1.2"] }
  - { name: vx200, kind: vxlan, vni: 200, remotes: ["198.18.1.3"], learning: false }
  - { name: tun-c, kind: tun }
routers:
  - name: vr1
    interfaces:
      - { name: eth0, layer: l3, addresses: ["198.18.10.1/24", "2001:db8:10::1/64"], link: tun-a }
      - { name: eth1, layer: l2, addresses: ["198.18.11.1/24"], link: tap-b }
      - { name: eth2, layer: l3, addresses: ["198.18.12.1/24"] }
    staticRoutes:
      - { prefix: 0.0.0.0/0, via: 198.18.10.2 }
switching:
  - { from: vx100, to: vx200 }
`;

function errorsOf(text: string): string[] {
  const r = parseConfigText(text, "/etc/vroom/vroomd.yaml");
  if (r.ok) throw new Error("expected errors");
  return r.errors.map(String);
}

describe("vroomd configuration: good files", () => {
  it("reads every section with its values and defaults", () => {
    const r = parseConfigText(GOOD, "/etc/vroom/vroomd.yaml");
    if (!r.ok) throw new Error(r.errors.join("\n"));
    const c = r.config;
    expect(c.file).toBe("/etc/vroom/vroomd.yaml");
    expect(c.hypervisor).toEqual({
      name: "pr1",
      stateDir: "/var/lib/vroom",
      arenaMiB: 32,
      api: {
        socket: "/run/vroom/vroomd.sock",
        tcp: { listen: { host: "127.0.0.1", port: 7179 }, tokenFile: "/etc/vroom/token" },
      },
      log: { level: "debug", format: "pretty" },
      metrics: { listen: { host: "::1", port: 9179 } },
    });
    expect(c.vxlan.listen).toEqual({ host: "198.18.1.1", port: 4789 });
    expect(c.links).toEqual([
      { name: "tun-a", kind: "tun", device: "vra0", mtu: 1400 },
      { name: "tap-b", kind: "tap", device: "vrb0", mac: 0x020000000001 },
      {
        name: "vx100",
        kind: "vxlan",
        vni: 100,
        remotes: ["198.18.1.2"],
        remotePort: 4789,
        learning: true,
      },
      {
        name: "vx200",
        kind: "vxlan",
        vni: 200,
        remotes: ["198.18.1.3"],
        remotePort: 4789,
        learning: false,
      },
      { name: "tun-c", kind: "tun", device: "tun-c" },
    ]);
    expect(c.routers).toHaveLength(1);
    const vr1 = c.routers[0];
    expect(vr1.name).toBe("vr1");
    expect(vr1.router.interfaces.map((i) => i.name)).toEqual(["eth0", "eth1", "eth2"]);
    expect(vr1.router.staticRoutes).toHaveLength(1);
    expect(vr1.bindings).toEqual([
      { interface: "eth0", ifIndex: 0, link: "tun-a" },
      { interface: "eth1", ifIndex: 1, link: "tap-b" },
    ]);
    // The daemon-only key is not in what the router schema read.
    expect((vr1.section.interfaces as Record<string, unknown>[]).every((i) => !("link" in i))).toBe(
      true,
    );
    expect(c.switching).toEqual([{ from: "vx100", to: "vx200" }]);
  });

  it("fills defaults and resolves relative paths from the file's directory", () => {
    const r = parseConfigText(
      "hypervisor:\n  name: h\n  stateDir: state\n  api: { socket: run/v.sock, tcp: { tokenFile: tok } }\n",
      "/srv/vroom/vroomd.yaml",
    );
    if (!r.ok) throw new Error(r.errors.join("\n"));
    const h = r.config.hypervisor;
    expect(h.stateDir).toBe("/srv/vroom/state");
    expect(h.api.socket).toBe("/srv/vroom/run/v.sock");
    expect(h.api.tcp).toEqual({
      listen: { host: "127.0.0.1", port: 7179 },
      tokenFile: "/srv/vroom/tok",
    });
    expect(h.log).toEqual({ level: "info", format: "json" });
    expect(h.arenaMiB).toBe(16);
    expect(r.config.vxlan.listen).toEqual({ host: "0.0.0.0", port: 4789 });
    expect(r.config.links).toEqual([]);
    expect(r.config.routers).toEqual([]);
  });

  it("defaults every section of an empty mapping, naming the hypervisor after the host", () => {
    const r = parseConfigText("{}\n", "/x/c.yaml");
    if (!r.ok) throw new Error(r.errors.join("\n"));
    expect(r.config.hypervisor.api.socket).toBe("/run/vroom/vroomd.sock");
    expect(r.config.hypervisor.stateDir).toBe("/var/lib/vroom");
    expect(r.config.hypervisor.name.length).toBeGreaterThan(0);
  });

  it("reads a file from disk, and names a missing one", async () => {
    const dir = new TempDir();
    try {
      const path = dir.file("c.yaml", GOOD);
      const r = await loadConfigFile(path);
      expect(r.ok).toBe(true);
      const missing = await loadConfigFile(dir.join("nope.yaml"));
      expect(missing.ok).toBe(false);
      if (!missing.ok)
        expect(String(missing.errors[0])).toMatch(
          /nope\.yaml:0:0: \(config\): cannot read the file: no such file/,
        );
    } finally {
      dir.remove();
    }
  });

  it("reads the commented example in examples/vroomd.yaml", async () => {
    const r = await loadConfigFile(new URL("../../examples/vroomd.yaml", import.meta.url).pathname);
    if (!r.ok) throw new Error(r.errors.join("\n"));
    expect(r.config.hypervisor.name).toBe("pr1");
    expect(r.config.links.map((l) => l.kind)).toEqual(["tun", "tap", "vxlan", "vxlan", "vxlan"]);
    expect(r.config.routers[0].bindings.map((b) => b.link)).toEqual(["tun-a", "vx100", "tap-b"]);
    expect(r.config.routers[0].router.staticRoutes).toHaveLength(5);
    expect(r.config.switching).toEqual([{ from: "vx200", to: "vx300" }]);
  });

  it("parses listen addresses", () => {
    expect(parseListen("127.0.0.1:7179")).toEqual({ host: "127.0.0.1", port: 7179 });
    expect(parseListen("[2001:db8::1]:0")).toEqual({ host: "2001:db8::1", port: 0 });
    expect(parseListen("localhost:80")).toEqual({ host: "localhost", port: 80 });
    expect(parseListen("2001:db8::1:80")).toMatch(/not host:port/);
    expect(parseListen("1.2.3.4:65536")).toMatch(/out of range/);
    expect(parseListen("example.org:80")).toMatch(/not an IP address/);
    expect(parseListen("[1.2.3.4]:80")).toMatch(/not an IPv6 address/);
  });
});

describe("vroomd configuration: bad files name file, line, column and field", () => {
  const F = "/etc/vroom/vroomd.yaml";
  const cases: [string, string, string[]][] = [
    ["YAML syntax", "hypervisor: [\n", [`${F}:2:1: (config): `]],
    [
      "duplicate keys",
      "hypervisor:\n  name: a\n  name: b\n",
      [`${F}:3:3: (config): Map keys must be unique`],
    ],
    ["an empty file", "", [`${F}:1:1: (config): the file is empty`]],
    ["a list at the top", "- a\n", [`${F}:1:1: (config): the configuration is a mapping`]],
    [
      "an unknown top-level field",
      "hypervisor: {}\nrouter: []\n",
      [`${F}:2:1: router: unknown field 'router'`],
    ],
    [
      "an unknown hypervisor field",
      "hypervisor:\n  nmae: x\n",
      [`${F}:2:3: hypervisor.nmae: unknown field 'nmae'`],
    ],
    [
      "a bad log level",
      "hypervisor:\n  log: { level: loud }\n",
      [`${F}:2:17: hypervisor.log.level: Invalid option`],
    ],
    [
      "a bad listen address",
      "hypervisor:\n  metrics: { listen: nowhere }\n",
      [`${F}:2:22: hypervisor.metrics.listen: 'nowhere' is not host:port`],
    ],
    [
      "a token file missing from tcp",
      'hypervisor:\n  api:\n    tcp: { listen: "127.0.0.1:1" }\n',
      [`${F}:3:10: hypervisor.api.tcp.tokenFile: is required`],
    ],
    [
      "a link of unknown kind",
      "links:\n  - { name: a, kind: gre }\n",
      [`${F}:2:22: links.0.kind: must be one of: tun, tap, vxlan, memory`],
    ],
    [
      "an MTU out of range",
      "links:\n  - { name: a, kind: tun, mtu: 10 }\n",
      [`${F}:2:32: links.0.mtu: `],
    ],
    [
      "a string for a number",
      "links:\n  - { name: a, kind: vxlan, vni: ten }\n",
      [`${F}:2:34: links.0.vni: `],
    ],
    [
      "an unknown link field",
      "links:\n  - { name: a, kind: tun, vni: 1 }\n",
      [`${F}:2:27: links.0.vni: unknown field 'vni'`],
    ],
    [
      "a duplicate link name",
      "links:\n  - { name: a, kind: tun }\n  - { name: a, kind: tap }\n",
      [`${F}:3:13: links.1.name: duplicate link name 'a'`],
    ],
    [
      "a device used twice",
      "links:\n  - { name: a, kind: tun, device: d0 }\n  - { name: b, kind: tap, device: d0 }\n",
      [`${F}:3:35: links.1.device: device 'd0' is already used by links.0`],
    ],
    [
      "a device name too long",
      "links:\n  - { name: a-very-long-link-name, kind: tun }\n",
      [`${F}:2:13: links.0.name: 'a-very-long-link-name' is not a device name`],
    ],
    [
      "a VNI used twice",
      "links:\n  - { name: a, kind: vxlan, vni: 5 }\n  - { name: b, kind: vxlan, vni: 5 }\n",
      [`${F}:3:34: links.1.vni: VNI 5 is already used by links.0`],
    ],
    [
      "a remote that is no address",
      "links:\n  - { name: a, kind: vxlan, vni: 5, remotes: [host] }\n",
      [`${F}:2:47: links.0.remotes.0: 'host' is not an IP address`],
    ],
    [
      "a remote of the other family",
      'links:\n  - { name: a, kind: vxlan, vni: 5, remotes: ["2001:db8::1"] }\n',
      [
        `${F}:2:47: links.0.remotes.0: '2001:db8::1' is IPv6 but the VXLAN endpoint (vxlan.listen) is IPv4`,
      ],
    ],
    [
      "a multicast TAP MAC",
      'links:\n  - { name: a, kind: tap, mac: "01:00:5e:00:00:01" }\n',
      [`${F}:2:32: links.0.mac: '01:00:5e:00:00:01' is not a unicast MAC address`],
    ],
    [
      "a router without interfaces",
      "routers:\n  - name: vr1\n",
      [`${F}:2:5: routers.0.interfaces: is required`],
    ],
    [
      "a bad address in a router",
      'links:\n  - { name: a, kind: tun }\nrouters:\n  - name: vr1\n    interfaces:\n      - name: eth0\n        layer: l3\n        addresses: ["198.18.10.1/33"]\n        link: a\n',
      [`${F}:8:21: routers.0.interfaces.0.addresses.0: `],
    ],
    [
      "an unknown interface field",
      "routers:\n  - name: vr1\n    interfaces:\n      - { name: eth0, layer: l3, speed: 10 }\n",
      [`${F}:4:34: routers.0.interfaces.0.speed: unknown field 'speed'`],
    ],
    [
      "a static route through nothing",
      "routers:\n  - name: vr1\n    interfaces: [{ name: eth0, layer: l3 }]\n    staticRoutes:\n      - { prefix: 10.0.0.0/8 }\n",
      [`${F}:5:9: routers.0.staticRoutes.0: a forwarding route needs 'via' or 'interface'`],
    ],
    [
      "a binding to no link",
      "routers:\n  - name: vr1\n    interfaces:\n      - { name: eth0, layer: l3, link: nope }\n",
      [`${F}:4:40: routers.0.interfaces.0.link: no link 'nope'`],
    ],
    [
      "a binding across layers",
      "links:\n  - { name: t, kind: tap }\nrouters:\n  - name: vr1\n    interfaces:\n      - { name: eth0, layer: l3, link: t }\n",
      [`${F}:6:40: routers.0.interfaces.0.link: interface eth0 is L3 but link t (tap) is L2`],
    ],
    [
      "a link bound twice",
      "links:\n  - { name: t, kind: tun }\nrouters:\n  - name: vr1\n    interfaces:\n      - { name: a, layer: l3, link: t }\n      - { name: b, layer: l3, link: t }\n",
      [`${F}:7:37: routers.0.interfaces.1.link: link t already carries vr1/a`],
    ],
    [
      "a duplicate router",
      "routers:\n  - { name: vr1, interfaces: [{ name: a, layer: l3 }] }\n  - { name: vr1, interfaces: [{ name: a, layer: l3 }] }\n",
      [`${F}:3:13: routers.1.name: duplicate router name 'vr1'`],
    ],
    [
      "a switching rule from no link",
      "links:\n  - { name: a, kind: tun }\nswitching:\n  - { from: b, to: a }\n",
      [`${F}:4:13: switching.0.from: no link 'b'`],
    ],
    [
      "a switching rule across layers",
      "links:\n  - { name: a, kind: tun }\n  - { name: b, kind: tap }\nswitching:\n  - { from: a, to: b }\n",
      [`${F}:5:20: switching.0.to: a is L3 but b is L2`],
    ],
    [
      "a switching loop",
      "links:\n  - { name: a, kind: tun }\nswitching:\n  - { from: a, to: a }\n",
      [`${F}:4:20: switching.0.to: a link cannot be switched to itself`],
    ],
    [
      "two rules from one link",
      "links:\n  - { name: a, kind: tun }\n  - { name: b, kind: tun }\n  - { name: c, kind: tun }\nswitching:\n  - { from: a, to: b }\n  - { from: a, to: c }\n",
      [`${F}:7:13: switching.1.from: a rule already leaves a (switching.0)`],
    ],
  ];
  for (const [what, text, want] of cases) {
    it(`reports ${what}`, () => {
      const got = errorsOf(text);
      expect(got.length).toBe(want.length);
      for (const [i, w] of want.entries()) {
        expect(got[i].startsWith(w), `${got[i]} should start with ${w}`).toBe(true);
      }
    });
  }

  it("reports every problem of a file at once, in line order", () => {
    const got = errorsOf(
      "links:\n  - { name: a, kind: tun, mtu: 1 }\n  - { name: b, kind: vxlan, vni: -1 }\nrouters:\n  - { name: vr1, interfaces: [{ name: e, layer: l3, link: zz }] }\n",
    );
    expect(got).toHaveLength(3);
    expect(got[0]).toMatch(/:2:\d+: links\.0\.mtu/);
    expect(got[1]).toMatch(/:3:\d+: links\.1\.vni/);
    expect(got[2]).toMatch(/:5:\d+: routers\.0\.interfaces\.0\.link: no link 'zz'/);
  });

  it("gives errors as values with their parts", () => {
    const r = parseConfigText("links:\n  - { name: a, kind: tun, mtu: 10 }\n", "c.yaml");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const e = r.errors[0];
    expect(e).toBeInstanceOf(ConfigError);
    expect({ file: e.file, line: e.line, column: e.column, path: e.path }).toEqual({
      file: "c.yaml",
      line: 2,
      column: 32,
      path: "links.0.mtu",
    });
    expect(e.toJSON()).toMatchObject({ file: "c.yaml", line: 2, path: "links.0.mtu" });
  });
});

describe("router sections on their own (the API and vroomctl router create)", () => {
  it("checks a section and strips its links", () => {
    const r = checkRouterSection({
      name: "vr9",
      interfaces: [{ name: "e0", layer: "l3", addresses: ["198.18.9.1/24"], link: "m0" }],
    });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.router.bindings).toEqual([{ interface: "e0", ifIndex: 0, link: "m0" }]);
    const bad = checkRouterSection({
      name: "vr9",
      interfaces: [{ name: "e0", layer: "l3", link: 7 }],
    });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues[0]).toMatchObject({ path: ["interfaces", 0, "link"] });
    expect(checkRouterSection([1, 2]).ok).toBe(false);
  });

  it("locates the problems of a router file", () => {
    const r = parseRouterText("name: vr9\ninterfaces:\n  - { name: e0, layer: l4 }\n", "r.yaml");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(String(r.errors[0])).toMatch(/^r\.yaml:3:24: interfaces\.0\.layer: /);
  });
});
