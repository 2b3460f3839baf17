/**
 * The lab's traffic: what crosses VR1 while it (would) move, measured so
 * that loss and the largest gap are exact.
 *
 * - Pings: iputils `ping -D -i 0.001` (an ICMP echo every millisecond,
 *   RFC 792) from one loopback to the other. Each reply line carries the
 *   receive time (`-D`, wall clock), its 16-bit sequence number (unwrapped
 *   here) and the round-trip time; `PingParser` reads the output as it
 *   streams, without keeping it, and never throws on a line it does not
 *   know.
 * - A UDP stream of 10,000 packets/s: bench/c's `udpgen send --rate` (each
 *   datagram carries a tag, a sequence number and its send time on
 *   CLOCK_MONOTONIC) and, in the receiving namespace, a small python3
 *   receiver that stamps arrivals with the kernel's receive time
 *   (SO_TIMESTAMPNS), keeps a bitmap of the sequence numbers seen, the
 *   largest gap between consecutive arrivals, the one-way latency, and the
 *   missing sequence ranges. At 10,000 packets/s it is far from its limit
 *   (measured here: 200,000 datagrams sent at 100,000/s, all received), and the
 *   kernel's stamps make its scheduling irrelevant to the gaps it reports.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LabError, run } from "./netlab.ts";
import type { ReferenceLab, Role } from "./reference.ts";

// ---------------------------------------------------------------- pings

/** One echo reply: its unwrapped sequence number, when it came back (epoch ms) and its RTT. */
export interface PingSample {
  seq: number;
  atMs: number;
  rttMs: number;
}

/** What one ping run saw. */
export interface PingLog {
  /** Replies in arrival order (duplicates left out). */
  samples: PingSample[];
  duplicates: number;
  /** Echo requests sent, from ping's summary (undefined: ping did not print one). */
  transmitted?: number;
}

/**
 * Reads iputils ping output as it arrives: `[epoch] N bytes from A:
 * icmp_seq=S ttl=T time=R ms` lines, `(DUP!)` marks and the summary.
 * icmp_seq is 16 bits in iputils; it is unwrapped against the last one seen.
 */
export class PingParser {
  readonly log: PingLog = { samples: [], duplicates: 0 };
  #partial = "";
  #base = 0;
  #last = -1;
  readonly #seen = new Set<number>();

  feed(chunk: string): void {
    const text = this.#partial + chunk;
    const lines = text.split("\n");
    this.#partial = lines.pop() ?? "";
    for (const line of lines) this.#line(line);
  }

  /** Takes the last line even without its newline; answers the log. */
  end(): PingLog {
    if (this.#partial !== "") this.#line(this.#partial);
    this.#partial = "";
    return this.log;
  }

  #line(line: string): void {
    const reply =
      /^\[(\d+(?:\.\d+)?)\] \d+ bytes from [^:]+: icmp_seq=(\d+) .*time=([\d.]+) ms/.exec(line);
    if (reply !== null) {
      const raw = Number(reply[2]);
      if (this.#last >= 0 && raw + this.#base < this.#last - 32768) this.#base += 65536;
      const seq = raw + this.#base;
      if (line.includes("(DUP!)") || this.#seen.has(seq)) {
        this.log.duplicates++;
        return;
      }
      this.#seen.add(seq);
      this.#last = seq;
      this.log.samples.push({ seq, atMs: Number(reply[1]) * 1000, rttMs: Number(reply[3]) });
      return;
    }
    const summary = /^(\d+) packets transmitted, (\d+) received/.exec(line);
    if (summary !== null) this.log.transmitted = Number(summary[1]);
  }
}

export interface PingOptions {
  from: Role;
  /** Source and destination addresses. */
  source: string;
  destination: string;
  seconds: number;
  /** Milliseconds between echo requests (default 1). */
  intervalMs?: number;
}

/** A running ping; `done` resolves when it has exited with everything it printed parsed. */
export interface PingRun {
  done: Promise<PingLog>;
  stop(): void;
}

export function startPings(lab: ReferenceLab, o: PingOptions): PingRun {
  const interval = o.intervalMs ?? 1;
  const count = Math.max(1, Math.round((o.seconds * 1000) / interval));
  const child = lab.lab.spawnIn(lab.ns[o.from], [
    "ping",
    "-D",
    "-n",
    "-i",
    String(interval / 1000),
    "-W",
    "1",
    "-c",
    String(count),
    "-I",
    o.source,
    o.destination,
  ]);
  const parser = new PingParser();
  let err = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (t: string) => parser.feed(t));
  child.stderr?.on("data", (b: Buffer) => {
    err = (err + b.toString()).slice(-4096);
  });
  const done = new Promise<PingLog>((resolve, reject) => {
    child.once("error", (e) => reject(new LabError(`ping: ${e.message}`)));
    child.once("close", (code) => {
      const log = parser.end();
      // 1: some replies missing (measured, not a failure); anything else is.
      if (code !== 0 && code !== 1 && log.transmitted === undefined) {
        reject(new LabError(`ping exited ${code}: ${err.trim()}`));
      } else resolve(log);
    });
  });
  return { done, stop: () => child.kill("SIGINT") };
}

// ---------------------------------------------------------------- the UDP stream

/** The UDP generator of bench/c. */
export const UDPGEN = join(import.meta.dirname, "..", "..", "bench", "c", "udpgen");

/** Builds bench/c's udpgen when it is missing; throws LabError when that fails. */
export function ensureUdpgen(): string {
  if (!existsSync(UDPGEN)) run("make", ["-C", join(import.meta.dirname, "..", "..", "bench", "c")]);
  if (!existsSync(UDPGEN)) throw new LabError(`${UDPGEN} is missing and make did not build it`);
  return UDPGEN;
}

/** The receiver: argv bind port tag; "ready" on stderr; one JSON line on stdout after SIGTERM. */
const PY_RECEIVER = `
import json, signal, socket, struct, sys, time
bind, port, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
s.bind((bind, port))
s.settimeout(0.05)
stop = False
def on_signal(sig, frame):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
offset = time.time_ns() - time.monotonic_ns()
seen = bytearray(1 << 16)
received = duplicates = reordered = foreign = 0
max_seq = -1
last = None
first = None
max_gap = 0
gap_end = 0
max_lat = 0
lat_sum = 0
print("ready", file=sys.stderr, flush=True)
while not stop:
    try:
        data, anc, flags, addr = s.recvmsg(2048, 64)
    except (socket.timeout, InterruptedError):
        continue
    arrival = None
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            sec, nsec = struct.unpack_from("=qq", value)
            arrival = sec * 1000000000 + nsec
    if arrival is None:
        arrival = time.time_ns()
    if len(data) < 18:
        foreign += 1
        continue
    t, seq, sent = struct.unpack_from("=HQQ", data)
    if t != tag:
        foreign += 1
        continue
    if seq >= len(seen):
        seen.extend(bytes(seq - len(seen) + (1 << 16)))
    if seen[seq]:
        duplicates += 1
        continue
    seen[seq] = 1
    received += 1
    if seq < max_seq:
        reordered += 1
    else:
        max_seq = seq
    if last is not None and arrival - last > max_gap:
        max_gap = arrival - last
        gap_end = arrival
    if first is None:
        first = arrival
    last = arrival
    lat = arrival - offset - sent
    lat_sum += lat
    if lat > max_lat:
        max_lat = lat
missing = []
run_start = None
for i in range(max_seq + 1):
    if not seen[i]:
        if run_start is None:
            run_start = i
    elif run_start is not None:
        if len(missing) < 1000:
            missing.append([run_start, i - 1])
        run_start = None
print(json.dumps({
    "received": received, "duplicates": duplicates, "reordered": reordered, "foreign": foreign,
    "maxSeq": max_seq, "firstMs": (first or 0) / 1e6, "lastMs": (last or 0) / 1e6,
    "maxGapMs": max_gap / 1e6, "maxGapEndMs": gap_end / 1e6,
    "latencyMaxMs": max_lat / 1e6, "latencyMeanMs": (lat_sum / received / 1e6) if received else 0,
    "missing": missing}), flush=True)
`;

/** What the stream's receiver reports (times are epoch ms, from the kernel's stamps). */
export interface StreamReceipt {
  received: number;
  duplicates: number;
  reordered: number;
  foreign: number;
  maxSeq: number;
  firstMs: number;
  lastMs: number;
  maxGapMs: number;
  maxGapEndMs: number;
  latencyMaxMs: number;
  latencyMeanMs: number;
  /** Missing sequence ranges [first, last] below maxSeq (the first 1000). */
  missing: [number, number][];
}

export interface StreamLog {
  sent: number;
  rate: number;
  receipt: StreamReceipt;
}

export interface StreamOptions {
  from: Role;
  to: Role;
  destination: string;
  port?: number;
  seconds: number;
  /** Packets per second (default 10,000). */
  rate?: number;
  tag?: number;
}

export interface StreamRun {
  done: Promise<StreamLog>;
  stop(): void;
}

/** Collects a child's stdout and stderr; resolves with both and its exit code. */
function collect(child: import("node:child_process").ChildProcess) {
  let out = "";
  let err = "";
  child.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on("data", (b: Buffer) => {
    err = (err + b.toString()).slice(-8192);
  });
  const closed = new Promise<{ code: number; out: string; err: string }>((resolve) => {
    child.once("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), out, err }));
    child.once("error", (e) => resolve({ code: 127, out, err: `${err}${e.message}` }));
  });
  return { closed, stderr: () => err };
}

/**
 * Starts the receiver in `to`, waits until it is bound, then the sender in
 * `from`; `done` resolves once the sender finished and the receiver (told to
 * stop a moment later, so the last packets arrive) reported.
 */
export async function startStream(lab: ReferenceLab, o: StreamOptions): Promise<StreamRun> {
  const udpgen = ensureUdpgen();
  const port = o.port ?? 5001;
  const tag = o.tag ?? 0x564c;
  const rate = o.rate ?? 10_000;
  const receiver = lab.lab.spawnIn(lab.ns[o.to], [
    "python3",
    "-u",
    "-c",
    PY_RECEIVER,
    o.destination,
    String(port),
    String(tag),
  ]);
  const rx = collect(receiver);
  const deadline = Date.now() + 10_000;
  while (!rx.stderr().includes("ready")) {
    if (receiver.exitCode !== null || Date.now() > deadline) {
      receiver.kill("SIGKILL");
      throw new LabError(`stream receiver did not start: ${rx.stderr().trim()}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const sender = lab.lab.spawnIn(lab.ns[o.from], [
    udpgen,
    "send",
    "--dst",
    o.destination,
    "--port",
    String(port),
    "--seconds",
    String(o.seconds),
    "--rate",
    String(rate),
    "--tag",
    String(tag),
  ]);
  const tx = collect(sender);
  const done = (async (): Promise<StreamLog> => {
    const s = await tx.closed;
    // The last datagrams are a fraction of a millisecond behind the sender.
    await new Promise((r) => setTimeout(r, 300));
    receiver.kill("SIGTERM");
    const r = await rx.closed;
    if (s.code !== 0) throw new LabError(`udpgen send exited ${s.code}: ${s.err.trim()}`);
    const sent = parseJsonLine<{ sent: number }>(s.out, "udpgen send");
    const receipt = parseJsonLine<StreamReceipt>(r.out, "stream receiver");
    return { sent: sent.sent, rate, receipt };
  })();
  return {
    done,
    stop: () => {
      sender.kill("SIGTERM");
    },
  };
}

function parseJsonLine<T>(out: string, who: string): T {
  const line = out
    .split("\n")
    .reverse()
    .find((l) => l.trim().startsWith("{"));
  if (line === undefined) throw new LabError(`${who} printed no result: ${out.trim()}`);
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new LabError(`${who} printed a result that is not JSON: ${line}`);
  }
}
