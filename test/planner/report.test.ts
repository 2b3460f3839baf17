import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { planPower } from "../../migration/planner/power.ts";
import { powerFigures, writePowerReport } from "../../migration/planner/report.ts";
import { barChart, niceStep, stepChart, svgToPng } from "../../migration/planner/svg.ts";
import { host, network, router } from "./fixtures.ts";

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe("figures and the power report", () => {
  const dir = mkdtempSync(join(tmpdir(), "vroom-report-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("draws charts as SVG with escaped text and round ticks, and rasterises them", () => {
    expect(niceStep(7300, 5)).toBe(2000);
    expect(niceStep(0.9, 5)).toBe(0.2);
    const svg = stepChart(
      { title: "a < b & c", labels: ["00:00", "01:00"], xTitle: "x", yTitle: "y" },
      [{ name: "plan", color: "#123456", values: [3, 5] }],
    );
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg).toContain("a &lt; b &amp; c");
    expect(svg).toContain("<polyline");
    const bars = barChart(
      { title: "t", labels: ["a", "b", "c"], xTitle: "x", yTitle: "y" },
      [1, 0, 2],
      "#000",
    );
    expect(bars.match(/<rect /g)).toHaveLength(4); // background + 3 bars
    const png = svgToPng(bars);
    expect(png.subarray(0, 8).equals(PNG)).toBe(true);
    // Width and height in the IHDR chunk.
    expect(png.readUInt32BE(16)).toBe(760);
    expect(png.readUInt32BE(20)).toBe(380);
  });

  it("writes figures as SVG and PNG, the plan as JSON and a summary", async () => {
    const net = network({
      name: "tiny",
      pops: [{ name: "A", lat: 40, lon: -75 }],
      hosts: [host("h1", "A", { throughputMbps: 1000 }), host("h2", "A", { throughputMbps: 1000 })],
      routers: [router("r1", "h1"), router("r2", "h2")],
      virtualLinks: [{ a: "r1", b: "r2" }],
      externalLinks: [
        { router: "r1", pop: "A", weight: 1 },
        { router: "r2", pop: "A", weight: 1 },
      ],
      traffic: { peakMbps: 800 },
    });
    const plan = await planPower(net, {});
    expect(Object.keys(powerFigures(plan))).toEqual(["power", "hosts", "migrations"]);
    const written = writePowerReport(plan, dir);
    expect(readdirSync(dir).sort()).toEqual(
      [
        "hosts.png",
        "hosts.svg",
        "migrations.png",
        "migrations.svg",
        "plan.json",
        "power.png",
        "power.svg",
        "report.md",
      ].sort(),
    );
    expect(written.files).toHaveLength(8);
    expect(readFileSync(join(dir, "power.png")).subarray(0, 8).equals(PNG)).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, "plan.json"), "utf8")).energySavedFraction).toBe(
      plan.energySavedFraction,
    );
    const md = readFileSync(join(dir, "report.md"), "utf8");
    expect(md).toContain("# Power savings: tiny");
    expect(md).toContain(`${(100 * plan.energySavedFraction).toFixed(1)}% saved`);
    expect(md.split("\n").filter((l) => /^\| \d+ \|/.test(l))).toHaveLength(24);
  });
});
