/**
 * Small SVG charts for the planner's reports, written by hand (no charting
 * library): a step/line chart of one or more series over hours, and a bar
 * chart. Axes get round tick values; text uses a generic sans-serif font
 * so the files render anywhere. `svgToPng` rasterises with resvg (the
 * `@resvg/resvg-js` package), using the system's fonts for the text.
 */
import { Resvg } from "@resvg/resvg-js";

export interface Series {
  name: string;
  color: string;
  /** One value per slot. */
  values: readonly number[];
  /** Drawn dashed. */
  dashed?: boolean;
}

export interface ChartFrame {
  title: string;
  /** Label of each slot on the x axis (e.g. "21:00"). */
  labels: readonly string[];
  xTitle: string;
  yTitle: string;
  width?: number;
  height?: number;
  /** Start the y axis at zero (default true). */
  fromZero?: boolean;
}

const MARGIN = { left: 72, right: 24, top: 44, bottom: 64 };

function escapeText(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** Round tick step for a range: 1, 2 or 5 times a power of ten. */
export function niceStep(range: number, ticks: number): number {
  if (!(range > 0)) return 1;
  const raw = range / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

function formatTick(v: number): string {
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(2);
}

interface Axes {
  svg: string[];
  x: (i: number) => number;
  y: (v: number) => number;
  slotWidth: number;
}

function axes(frame: ChartFrame, max: number, min: number): Axes {
  const width = frame.width ?? 760;
  const height = frame.height ?? 380;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const n = Math.max(1, frame.labels.length);
  const lo = frame.fromZero === false ? min : Math.min(0, min);
  const step = niceStep(max - lo || 1, 5);
  const top = Math.ceil(max / step) * step || step;
  const bottom = Math.floor(lo / step) * step;
  const slotWidth = plotW / n;
  const x = (i: number) => MARGIN.left + i * slotWidth;
  const y = (v: number) => MARGIN.top + plotH - ((v - bottom) / (top - bottom)) * plotH;
  const svg: string[] = [];
  svg.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeText(frame.title)}</text>`,
  );
  for (let v = bottom; v <= top + step / 2; v += step) {
    const yy = y(v).toFixed(1);
    svg.push(
      `<line x1="${MARGIN.left}" y1="${yy}" x2="${width - MARGIN.right}" y2="${yy}" stroke="#e0e0e0" stroke-width="1"/>`,
      `<text x="${MARGIN.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" font-size="11">${formatTick(Number(v.toPrecision(12)))}</text>`,
    );
  }
  const every = Math.max(1, Math.ceil(n / 12));
  for (let i = 0; i < n; i += every) {
    const xx = (x(i) + slotWidth / 2).toFixed(1);
    svg.push(
      `<text x="${xx}" y="${MARGIN.top + plotH + 16}" text-anchor="middle" font-size="11">${escapeText(frame.labels[i] ?? "")}</text>`,
    );
  }
  svg.push(
    `<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${width - MARGIN.right}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${height - 30}" text-anchor="middle" font-size="12">${escapeText(frame.xTitle)}</text>`,
    `<text x="16" y="${MARGIN.top + plotH / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})">${escapeText(frame.yTitle)}</text>`,
  );
  return { svg, x, y, slotWidth };
}

function legend(svg: string[], series: readonly Series[], height: number): void {
  let xx = MARGIN.left;
  const yy = height - 10;
  for (const s of series) {
    svg.push(
      `<line x1="${xx}" y1="${yy - 4}" x2="${xx + 22}" y2="${yy - 4}" stroke="${s.color}" stroke-width="3"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
      `<text x="${xx + 28}" y="${yy}" font-size="12">${escapeText(s.name)}</text>`,
    );
    xx += 40 + 7.5 * s.name.length;
  }
}

/** Step chart: each series holds its value over each slot. */
export function stepChart(frame: ChartFrame, series: readonly Series[]): string {
  const all = series.flatMap((s) => s.values);
  const max = Math.max(...all, 0);
  const min = Math.min(...all, 0);
  const a = axes(frame, max, min);
  for (const s of series) {
    const points: string[] = [];
    s.values.forEach((v, i) => {
      points.push(
        `${a.x(i).toFixed(1)},${a.y(v).toFixed(1)}`,
        `${a.x(i + 1).toFixed(1)},${a.y(v).toFixed(1)}`,
      );
    });
    a.svg.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ""} points="${points.join(" ")}"/>`,
    );
  }
  legend(a.svg, series, frame.height ?? 380);
  a.svg.push("</svg>");
  return `${a.svg.join("\n")}\n`;
}

/** Bar chart: one bar per slot, its value written above it. */
export function barChart(frame: ChartFrame, values: readonly number[], color: string): string {
  const max = Math.max(...values, 1);
  const a = axes(frame, max, 0);
  const bar = a.slotWidth * 0.7;
  values.forEach((v, i) => {
    const x0 = a.x(i) + (a.slotWidth - bar) / 2;
    const y0 = a.y(Math.max(0, v));
    const h = a.y(0) - y0;
    a.svg.push(
      `<rect x="${x0.toFixed(1)}" y="${y0.toFixed(1)}" width="${bar.toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"/>`,
    );
    if (v !== 0 && values.length <= 48)
      a.svg.push(
        `<text x="${(x0 + bar / 2).toFixed(1)}" y="${(y0 - 4).toFixed(1)}" text-anchor="middle" font-size="10">${formatTick(v)}</text>`,
      );
  });
  a.svg.push("</svg>");
  return `${a.svg.join("\n")}\n`;
}

/** Rasterises an SVG document to PNG bytes. */
export function svgToPng(svg: string): Buffer {
  const resvg = new Resvg(svg, {
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
    background: "#ffffff",
  });
  return resvg.render().asPng();
}
