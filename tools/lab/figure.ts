/**
 * The lab's figure: round-trip times over time, in the style of the VROOM
 * paper's Figure 5 (RTT of 1 ms pings across the router while it moves,
 * the outage a gap in the dots). Each reply is a dot at (time since the
 * traffic started, RTT); pings that got no reply are red ticks under the
 * axis; the phases of the run that overlap the traffic (the migrations,
 * the re-homing) are shaded and named. The SVG is written by hand (one
 * path for all the dots, so tens of thousands of replies stay small) and
 * rendered to PNG by @resvg/resvg-js with the system's fonts.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Resvg } from "@resvg/resvg-js";
import type { PhaseTiming } from "./measure.ts";
import type { PingSample } from "./traffic.ts";

export interface FigureInput {
  title: string;
  /** When the traffic started (epoch ms): time zero of the x axis. */
  t0Ms: number;
  /** How long the traffic ran (s): the x axis's length at least. */
  seconds: number;
  samples: readonly PingSample[];
  /** Send times (epoch ms) of pings that got no reply. */
  lostAtMs: readonly number[];
  /** Phases to shade (those outside the traffic are left out). */
  phases: readonly PhaseTiming[];
  /** A line of figures under the title. */
  subtitle?: string;
}

const W = 960;
const H = 480;
const M = { left: 70, right: 24, top: 64, bottom: 62 };

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least `v`. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** An axis's end: the first multiple of a nice step (a tenth of the span, rounded up) at least `v`. */
export function axisMax(v: number): number {
  const step = niceCeil(v / 10);
  return Math.ceil(v / step - 1e-9) * step;
}

function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

const fmt = (v: number) => String(Math.round(v * 1000) / 1000);

/** The figure as SVG text. */
export function renderSvg(f: FigureInput): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const lastS = f.samples.reduce((m, s) => Math.max(m, (s.atMs - f.t0Ms) / 1000), 0);
  const xMax = axisMax(Math.max(f.seconds, lastS, 0.001));
  const rtts = f.samples.map((s) => s.rttMs).sort((a, b) => a - b);
  // The y axis covers every reply; a single outlier far above the rest still shows.
  const yMax = axisMax(Math.max(rtts[rtts.length - 1] ?? 1, 0.1));
  const x = (s: number) => M.left + (Math.min(Math.max(s, 0), xMax) / xMax) * pw;
  const y = (ms: number) => M.top + ph - (Math.min(ms, yMax) / yMax) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="24" font-size="17" text-anchor="middle">${esc(f.title)}</text>`,
  );
  if (f.subtitle) {
    out.push(
      `<text x="${W / 2}" y="44" font-size="12" fill="#444444" text-anchor="middle">${esc(f.subtitle)}</text>`,
    );
  }
  // Phases overlapping the traffic.
  const t1 = f.t0Ms + xMax * 1000;
  let row = 0;
  for (const p of f.phases) {
    if (p.endMs < f.t0Ms || p.startMs > t1) continue;
    // Labels of neighbouring phases go on alternate lines, so they never overlap.
    const labelY = M.top + 12 + 12 * (row++ % 2);
    const a = x((p.startMs - f.t0Ms) / 1000);
    const b = Math.max(x((p.endMs - f.t0Ms) / 1000), a + 1);
    out.push(
      `<rect x="${fmt(a)}" y="${M.top}" width="${fmt(b - a)}" height="${ph}" fill="#f2d7a6" fill-opacity="0.55"/>`,
      `<text x="${fmt(a + 2)}" y="${labelY}" font-size="10" fill="#7a5200">${esc(p.name)}</text>`,
    );
  }
  // Grid and axes.
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    const yy = y(v);
    out.push(
      `<line x1="${M.left}" y1="${fmt(yy)}" x2="${W - M.right}" y2="${fmt(yy)}" stroke="#e3e3e3"/>`,
      `<text x="${M.left - 8}" y="${fmt(yy + 4)}" font-size="11" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  for (let i = 0; i <= 10; i++) {
    const v = (xMax * i) / 10;
    const xx = x(v);
    out.push(
      `<line x1="${fmt(xx)}" y1="${M.top + ph}" x2="${fmt(xx)}" y2="${M.top + ph + 5}" stroke="#000000"/>`,
      `<text x="${fmt(xx)}" y="${M.top + ph + 18}" font-size="11" text-anchor="middle">${fmt(v)}</text>`,
    );
  }
  out.push(
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#000000"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 14}" font-size="13" text-anchor="middle">time (s)</text>`,
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" font-size="13" text-anchor="middle">round-trip time (ms)</text>`,
  );
  // One path: a zero-length round-capped segment per reply draws a dot.
  const d: string[] = [];
  for (const s of f.samples) d.push(`M${fmt(x((s.atMs - f.t0Ms) / 1000))} ${fmt(y(s.rttMs))}h0`);
  if (d.length > 0) {
    out.push(
      `<path d="${d.join("")}" stroke="#1f4e9c" stroke-width="2.2" stroke-linecap="round" fill="none"/>`,
    );
  }
  if (f.lostAtMs.length > 0) {
    const t: string[] = [];
    for (const at of f.lostAtMs) t.push(`M${fmt(x((at - f.t0Ms) / 1000))} ${M.top + ph - 8}v16`);
    out.push(`<path d="${t.join("")}" stroke="#d62728" stroke-width="1" fill="none"/>`);
  }
  out.push(
    `<text x="${W - M.right}" y="${M.top - 6}" font-size="11" text-anchor="end">` +
      `${f.samples.length} replies, ${f.lostAtMs.length} lost (red)</text>`,
    "</svg>",
  );
  return `${out.join("\n")}\n`;
}

/** Renders SVG text to PNG bytes (system fonts). */
export function renderPng(svg: string): Uint8Array {
  const r = new Resvg(svg, {
    background: "#ffffff",
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
  });
  return r.render().asPng();
}

/** Writes `<dir>/<name>.svg` and `<dir>/<name>.png`; answers both paths. */
export function writeFigure(
  dir: string,
  name: string,
  f: FigureInput,
): { svg: string; png: string } {
  const svg = renderSvg(f);
  const svgPath = join(dir, `${name}.svg`);
  const pngPath = join(dir, `${name}.png`);
  writeFileSync(svgPath, svg);
  writeFileSync(pngPath, renderPng(svg));
  return { svg: svgPath, png: pngPath };
}
