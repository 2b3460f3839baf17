/**
 * The lab's pure parts: ping output parsing (sequence unwrap, duplicates,
 * garbage), loss and gap summaries, BGP reset detection from BIRD's
 * "since", the headline figures, and the figure (SVG and PNG).
 */
import { describe, expect, it } from "vitest";
import { axisMax, niceCeil, renderPng, renderSvg } from "../../tools/lab/figure.ts";
import {
  combine,
  quantile,
  sameSince,
  sessionChecks,
  summarizePings,
  summarizeStream,
} from "../../tools/lab/measure.ts";
import { PingParser, type StreamLog } from "../../tools/lab/traffic.ts";
import type { BirdProtocol } from "../../tools/peers/bird.ts";

const reply = (t: number, seq: number, rtt: number, dup = false) =>
  `[${t.toFixed(6)}] 64 bytes from 198.19.2.1: icmp_seq=${seq} ttl=63 time=${rtt} ms${dup ? " (DUP!)" : ""}\n`;

describe("PingParser", () => {
  it("reads replies split at every offset, and the summary", () => {
    const text =
      "PING 198.19.2.1 (198.19.2.1) from 198.19.1.1 : 56(84) bytes of data.\n" +
      reply(1000.001, 1, 0.05) +
      reply(1000.002, 2, 0.06) +
      reply(1000.004, 4, 0.07) +
      "\n--- 198.19.2.1 ping statistics ---\n4 packets transmitted, 3 received, 25% packet loss, time 3ms\n";
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new PingParser();
      p.feed(text.slice(0, cut));
      p.feed(text.slice(cut));
      const log = p.end();
      expect(log.samples.map((s) => s.seq)).toEqual([1, 2, 4]);
      expect(log.transmitted).toBe(4);
      expect(log.samples[2].atMs).toBeCloseTo(1000004, 3);
      expect(log.samples[1].rttMs).toBe(0.06);
    }
  });

  it("unwraps the 16-bit sequence number and counts duplicates", () => {
    const p = new PingParser();
    p.feed(reply(1, 65534, 0.1) + reply(2, 65535, 0.1) + reply(3, 0, 0.1) + reply(4, 1, 0.1));
    p.feed(reply(5, 1, 0.1, true) + reply(6, 1, 0.1));
    const log = p.end();
    expect(log.samples.map((s) => s.seq)).toEqual([65534, 65535, 65536, 65537]);
    expect(log.duplicates).toBe(2);
  });

  it("ignores lines it does not know without throwing", () => {
    const p = new PingParser();
    p.feed(
      "From 198.18.1.1 icmp_seq=3 Destination Host Unreachable\n\u0000\xff garbage\n[x] 64 bytes\n",
    );
    expect(p.end()).toEqual({ samples: [], duplicates: 0 });
  });
});

describe("summaries", () => {
  it("counts lost pings, the longest run and the largest gap between replies", () => {
    const samples = [1, 2, 3, 7, 8, 10].map((seq) => ({ seq, atMs: seq * 1, rttMs: seq / 10 }));
    const s = summarizePings({ samples, duplicates: 0, transmitted: 11 });
    expect(s.lost).toBe(5);
    expect(s.lostSeqs).toEqual([4, 5, 6, 9, 11]);
    expect(s.longestLossRun).toBe(3);
    expect(s.maxGapMs).toBe(4);
    expect(s.rtt.minMs).toBe(0.1);
    expect(s.rtt.maxMs).toBe(1);
    expect(s.received).toBe(6);
  });

  it("takes the highest sequence number when ping printed no summary", () => {
    const s = summarizePings({ samples: [{ seq: 3, atMs: 0, rttMs: 1 }], duplicates: 0 });
    expect(s.sent).toBe(3);
    expect(s.lost).toBe(2);
  });

  it("quantiles by nearest rank", () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.99)).toBe(4);
    expect(quantile([], 0.5)).toBe(0);
  });

  it("stream: loss from sent and received, trailing losses in the longest run", () => {
    const log: StreamLog = {
      sent: 100,
      rate: 10_000,
      receipt: {
        received: 90,
        duplicates: 1,
        reordered: 0,
        foreign: 0,
        maxSeq: 94,
        firstMs: 0,
        lastMs: 10,
        maxGapMs: 0.6,
        maxGapEndMs: 5,
        latencyMaxMs: 0.2,
        latencyMeanMs: 0.05,
        missing: [
          [10, 11],
          [20, 22],
        ],
      },
    };
    const s = summarizeStream(log);
    expect(s.lost).toBe(10);
    expect(s.longestLossRun).toBe(5);
    expect(s.maxGapMs).toBe(0.6);
  });
});

const proto = (since: string, bgpState = "Established"): BirdProtocol => ({
  name: "vr1",
  proto: "BGP",
  state: bgpState === "Established" ? "up" : "start",
  since,
  info: bgpState,
  bgpState,
  channels: {},
});

describe("BGP session resets from BIRD", () => {
  it("flags a later since, a session not established, or a missing one", () => {
    const before = { nr1: proto("2026-01-01 10:00:00.100"), nr2: proto("2026-01-01 10:00:00.200") };
    expect(sessionChecks(before, { ...before }).filter((c) => c.reset)).toEqual([]);
    const bounced = sessionChecks(before, {
      nr1: proto("2026-01-01 10:00:05.000"),
      nr2: before.nr2,
    });
    expect(bounced.map((c) => c.reset)).toEqual([true, false]);
    const down = sessionChecks(before, { nr1: before.nr1, nr2: proto("x", "Active") });
    expect(down.map((c) => c.reset)).toEqual([false, true]);
    expect(sessionChecks(before, { nr1: before.nr1 })[1].after.state).toBe("missing");
  });

  it("a since printed a millisecond apart is no reset (BIRD prints its monotonic clock as wall time)", () => {
    const before = { nr1: proto("2026-11-24 20:31:08.290") };
    const jitter = sessionChecks(before, { nr1: proto("2026-11-24 20:31:08.291") });
    expect(jitter[0].reset).toBe(false);
    expect(sameSince("2026-11-24 20:31:08.999", "2026-11-24 20:31:09.001")).toBe(true);
    expect(sameSince("2026-11-24 20:31:08.290", "2026-11-24 20:31:08.400")).toBe(false);
    expect(sameSince("not a time", "2026-11-24 20:31:08.290")).toBe(false);
    expect(sessionChecks(before, { nr1: proto("2026-11-24 20:31:09.500") })[0].reset).toBe(true);
  });

  it("headline: null migration figures for the baseline, max and sum otherwise", () => {
    const pings = summarizePings({
      samples: [{ seq: 1, atMs: 0, rttMs: 1 }],
      duplicates: 0,
      transmitted: 2,
    });
    const stream = {
      sent: 10,
      received: 9,
      lost: 1,
      duplicates: 0,
      reordered: 0,
      rate: 1,
      maxGapMs: 3,
      longestLossRun: 1,
      latencyMeanMs: 0,
      latencyMaxMs: 0,
    };
    const base = combine(pings, stream, [], null);
    expect(base).toEqual({
      migrated: false,
      lost: 2,
      maxGapMs: 3,
      cpFreezeMs: null,
      totalMs: null,
      bytes: null,
      bgpSessionResets: 0,
    });
    const m = (cp: number | null) => ({
      router: "vr1",
      from: "pr1",
      to: "pr2",
      cpFreezeMs: cp,
      totalMs: 100,
      bytes: 10,
    });
    const moved = combine(pings, stream, [], [m(5), m(7)]);
    expect(moved).toMatchObject({ migrated: true, cpFreezeMs: 7, totalMs: 100, bytes: 20 });
    expect(combine(pings, stream, [], [m(5), m(null)]).cpFreezeMs).toBeNull();
  });
});

describe("figure", () => {
  it("nice axis ends", () => {
    expect(niceCeil(3.2)).toBe(5);
    expect(niceCeil(0.07)).toBeCloseTo(0.1);
    expect(axisMax(5.27)).toBe(6);
    expect(axisMax(20)).toBe(20);
    expect(axisMax(0.166)).toBeCloseTo(0.18);
  });

  it("draws every reply, marks lost pings and shades phases; renders a PNG", () => {
    const t0 = 1_700_000_000_000;
    const samples = Array.from({ length: 2000 }, (_, i) => ({
      seq: i + 1,
      atMs: t0 + i,
      rttMs: 0.05 + (i % 7) / 100,
    }));
    const svg = renderSvg({
      title: "VR1 <test> & co",
      t0Ms: t0,
      seconds: 2,
      samples,
      lostAtMs: [t0 + 500, t0 + 501],
      phases: [{ name: "migrate pr1→pr2", startMs: t0 + 400, endMs: t0 + 600 }],
      subtitle: "lost 2",
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("VR1 &lt;test&gt; &amp; co");
    expect(svg.match(/h0/g)?.length).toBe(2000);
    expect(svg).toContain("migrate pr1→pr2");
    expect(svg).toContain("2000 replies, 2 lost (red)");
    const png = renderPng(svg);
    expect([...png.slice(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it("draws an empty run without failing", () => {
    const svg = renderSvg({
      title: "t",
      t0Ms: 0,
      seconds: 1,
      samples: [],
      lostAtMs: [],
      phases: [],
    });
    expect(renderPng(svg).length).toBeGreaterThan(100);
  });
});
