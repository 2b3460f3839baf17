import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadNetwork, networkFromDocument, parseNetwork } from "../../migration/planner/load.ts";
import { host, router } from "./fixtures.ts";

const base = () => ({
  name: "t",
  pops: [
    { name: "A", lat: 40, lon: -75 },
    { name: "B", lat: 41, lon: -74 },
  ],
  links: [{ a: "A", b: "B", capacityMbps: 1000 }],
  hosts: [host("h1", "A"), host("h2", "B")],
  routers: [router("r1", "h1"), router("r2", "h2")],
  virtualLinks: [{ a: "r1", b: "r2" }],
});

function errorsOf(doc: unknown): string[] {
  const r = networkFromDocument(doc, "net.yaml");
  expect(r.ok).toBe(false);
  return r.ok ? [] : r.errors;
}

describe("network files", () => {
  const dir = mkdtempSync(join(tmpdir(), "vroom-planner-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("loads a valid document and derives link delays from coordinates", () => {
    const r = networkFromDocument(base(), "net.yaml");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const net = r.network;
    expect(net.hosts.map((h) => h.name)).toEqual(["h1", "h2"]);
    // Great circle ≈ 139.6 km × 1.4 / 200 km/ms.
    expect(net.links[0].latencyMs).toBeCloseTo((139.6 * 1.4) / 200, 1);
    expect(net.vlinks[0].todayMs).toBeCloseTo(net.links[0].latencyMs, 9);
    expect(net.vlinks[0].boundMs).toBeCloseTo(Math.min(50, 1.5 * net.vlinks[0].todayMs + 2), 9);
  });

  it("names the entity and the field of a bad value", () => {
    const doc = base();
    (doc.hosts[1].capacity as { cpu: unknown }).cpu = "many";
    const errors = errorsOf(doc);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^net\.yaml: host "h2": field capacity\.cpu: /);
  });

  it("names unknown fields, unknown references and duplicates", () => {
    const doc = base() as Record<string, unknown> & ReturnType<typeof base>;
    (doc.routers[0] as Record<string, unknown>).colour = "red";
    expect(errorsOf(doc)[0]).toMatch(
      /router "r1": field colour|router "r1": unknown field\(s\) colour/,
    );

    const refs = base();
    refs.hosts[0].pop = "Z";
    refs.routers[1].host = "nowhere";
    const errors = errorsOf(refs);
    expect(errors).toContain('net.yaml: host "h1": field pop: unknown PoP "Z"');
    expect(errors).toContain('net.yaml: router "r2": field host: unknown host "nowhere"');

    const dup = base();
    dup.routers[1].name = "r1";
    expect(errorsOf(dup)[0]).toMatch(
      /router "r1": field name: duplicate name \(also routers\[0\]\)/,
    );
  });

  it("refuses inconsistent values with the entity named", () => {
    const doc = base();
    doc.hosts[0].power = { idleW: 300, busyW: 200 };
    expect(errorsOf(doc)[0]).toMatch(/host "h1": field power\.busyW: 200 W is below power\.idleW/);
    const loop = base();
    loop.virtualLinks = [{ a: "r1", b: "r1" }];
    expect(errorsOf(loop)[0]).toMatch(
      /virtual link r1-r1: field b: a virtual link joins two different routers/,
    );
    const cut = base();
    cut.links = [];
    expect(errorsOf(cut)[0]).toMatch(
      /virtual link r1-r2: PoPs A and B are not connected by substrate links/,
    );
    const traffic = { ...base(), traffic: { demands: [{ from: "r1", to: "ghost", mbps: 5 }] } };
    expect(errorsOf(traffic)[0]).toMatch(
      /traffic demand 0 \(r1 to ghost\): field to: unknown router "ghost"/,
    );
  });

  it("refuses text that is not a mapping, and bad YAML", () => {
    expect(parseNetwork("- a\n- b\n", "x.yaml")).toEqual({
      ok: false,
      errors: ["x.yaml: the file must hold one mapping"],
    });
    const r = parseNetwork("name: [unclosed\n", "y.yaml");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]).toMatch(/^y\.yaml: not YAML or JSON/);
    const missing = loadNetwork(join(dir, "absent.yaml"));
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.errors[0]).toMatch(/absent\.yaml: cannot read/);
  });

  it("extends another file: lists concatenate, same names replace, settings merge", () => {
    writeFileSync(
      join(dir, "base.json"),
      JSON.stringify({ ...base(), latency: { maxMs: 30, slackMs: 1 } }),
    );
    writeFileSync(
      join(dir, "child.yaml"),
      [
        "extends: base.json",
        "name: child",
        "latency: { slackMs: 3 }",
        "hosts:",
        `  - ${JSON.stringify(host("h2", "A", { routers: 9 }))}`,
        `  - ${JSON.stringify(host("h3", "B"))}`,
      ].join("\n"),
    );
    const r = loadNetwork(join(dir, "child.yaml"));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.network.name).toBe("child");
    expect(r.network.hosts.map((h) => `${h.name}@${r.network.pops[h.pop].name}`)).toEqual([
      "h1@A",
      "h2@A",
      "h3@B",
    ]);
    expect(r.network.hosts[1].maxRouters).toBe(9);
    expect(r.network.spec.latency).toEqual({ maxMs: 30, maxStretch: 1.5, slackMs: 3 });

    writeFileSync(join(dir, "loop-a.yaml"), "extends: loop-b.yaml\n");
    writeFileSync(join(dir, "loop-b.yaml"), "extends: loop-a.yaml\n");
    const loop = loadNetwork(join(dir, "loop-a.yaml"));
    expect(loop.ok).toBe(false);
    if (!loop.ok) expect(loop.errors[0]).toMatch(/extends itself/);
  });

  it("loads the Abilene examples", () => {
    const abilene = loadNetwork(new URL("../../examples/abilene.yaml", import.meta.url).pathname);
    expect(abilene.ok).toBe(true);
    if (!abilene.ok) return;
    const net = abilene.network;
    expect(net.pops).toHaveLength(11);
    expect(net.links).toHaveLength(14);
    const delay = (a: string, b: string) =>
      net.links.find((l) => l.name === `${a}-${b}`)!.latencyMs;
    // New York-Washington is ~330 km of great circle: ~2.3 ms with the route factor.
    expect(delay("NYCM", "WASH")).toBeGreaterThan(2.1);
    expect(delay("NYCM", "WASH")).toBeLessThan(2.5);
    expect(delay("LOSA", "HSTN")).toBeGreaterThan(delay("IPLS", "CHIN"));
    expect(net.links.filter((l) => l.capacityMbps === 2500).map((l) => l.name)).toEqual([
      "IPLS-ATLA",
    ]);
    const trial = loadNetwork(
      new URL("../../examples/abilene-trial.yaml", import.meta.url).pathname,
    );
    expect(trial.ok).toBe(true);
    if (trial.ok) expect(trial.network.hosts.filter((h) => h.role === "trial")).toHaveLength(3);
  });
});
