/**
 * One measurement of a forwarding path with bench/c/udpgen: a receiver in
 * the destination namespace, started first (it says "ready" once bound),
 * then a sender in the source namespace for `seconds`, flat out or paced at
 * `rate` (UDP GSO, when asked, only makes the sender cheaper: the kernel
 * cuts its messages into ordinary datagrams before any forwarder); once the
 * sender is done and `drainMs` has let the queues empty, the receiver is
 * stopped (SIGINT) and both JSON reports are read.
 *
 * Everything is spawned asynchronously: the forwarder under test may be a
 * hypervisor in this very process, whose event loop must keep running.
 * Each run has its own tag in the payload, so packets of an earlier run
 * still in flight are not counted. Throughput is unique packets received ÷
 * the sender's own duration; loss is 1 − received ÷ sent (sent = what the
 * sending socket accepted).
 */
import type { ChildProcess } from "node:child_process";
import type { Lab } from "../../tools/lab/netlab.ts";

export interface SendReport {
  sent: number;
  failed: number;
  seconds: number;
  pps: number;
  rate: number;
  cpuSeconds: number;
}

export interface LatencyUs {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface RecvReport {
  received: number;
  duplicates: number;
  reordered: number;
  foreign: number;
  socketDrops: number;
  timestamps: "kernel" | "none";
  latencyUs: LatencyUs;
  cpuSeconds: number;
}

export interface TrafficSpec {
  /** Namespaces of the sender and the receiver. */
  from: string;
  to: string;
  /** Receiver's address (in `to`) and port. */
  dst: string;
  port: number;
  seconds: number;
  /** Packets/s; 0 or undefined: flat out. */
  rate?: number;
  /** Packets per send call when paced (1: each packet stamped as it leaves). */
  burst?: number;
  /** UDP GSO segments per message (1: off): a cheaper sender, same datagrams on the wire. */
  gso?: number;
  /** Record one-way latency (kernel receive time stamps; costs the receiver a little). */
  stamps?: boolean;
  /** CPU the sender and receiver are pinned to. */
  cpu?: number;
  drainMs?: number;
}

export interface TrafficResult {
  sent: number;
  received: number;
  /** 1 − received ÷ sent. */
  loss: number;
  /** Unique packets received ÷ the sender's duration. */
  pps: number;
  /** What the sender achieved (its socket accepted). */
  sentPps: number;
  seconds: number;
  send: SendReport;
  recv: RecvReport;
}

let nextTag = (process.pid * 7919) & 0xffff;

/** Collects a child's stdout and stderr; resolves on exit. */
function finished(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, out, err }));
  });
}

/** Resolves once the child writes `word` on stderr; rejects after `ms` or on exit. */
function saying(child: ChildProcess, word: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`no "${word}" within ${ms} ms`)), ms);
    const onData = (d: Buffer | string): void => {
      seen += String(d);
      if (seen.includes(word)) {
        clearTimeout(timer);
        child.stderr?.off("data", onData);
        resolve();
      }
    };
    child.stderr?.on("data", onData);
    child.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`exited before saying "${word}": ${seen.trim()}`));
    });
  });
}

function lastJson<T>(text: string, what: string): T {
  const line = text
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .pop();
  if (line === undefined) throw new Error(`${what}: no JSON report in ${JSON.stringify(text)}`);
  return JSON.parse(line) as T;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs one measurement; `udpgen` is the binary's path. */
export async function measure(lab: Lab, udpgen: string, spec: TrafficSpec): Promise<TrafficResult> {
  nextTag = (nextTag + 1) & 0xffff;
  const tag = String(nextTag);
  const port = String(spec.port);
  const recv = lab.spawnIn(
    spec.to,
    [
      udpgen,
      "recv",
      "--bind",
      spec.dst,
      "--port",
      port,
      "--tag",
      tag,
      "--timeout",
      String(spec.seconds + 30),
      ...(spec.stamps ? ["--stamps"] : []),
    ],
    spec.cpu,
  );
  const recvDone = finished(recv);
  try {
    await saying(recv, "ready", 5000);
  } catch (e) {
    recv.kill("SIGKILL");
    const r = await recvDone.catch(() => ({ err: "" }));
    throw new Error(`udpgen recv in ${spec.to}: ${(e as Error).message} ${r.err.trim()}`);
  }
  const args = [udpgen, "send", "--dst", spec.dst, "--port", port, "--tag", tag];
  args.push("--seconds", String(spec.seconds));
  if (spec.gso !== undefined && spec.gso > 1) args.push("--gso", String(spec.gso));
  if (spec.rate !== undefined && spec.rate > 0) {
    args.push("--rate", String(Math.round(spec.rate)), "--burst", String(spec.burst ?? 1));
  }
  const sender = lab.spawnIn(spec.from, args, spec.cpu);
  const s = await finished(sender);
  await sleep(spec.drainMs ?? 300);
  recv.kill("SIGINT");
  const r = await recvDone;
  if (s.code !== 0) throw new Error(`udpgen send in ${spec.from}: exit ${s.code}: ${s.err.trim()}`);
  if (r.code !== 0) throw new Error(`udpgen recv in ${spec.to}: exit ${r.code}: ${r.err.trim()}`);
  const send = lastJson<SendReport>(s.out, "udpgen send");
  const rec = lastJson<RecvReport>(r.out, "udpgen recv");
  return {
    sent: send.sent,
    received: rec.received,
    loss: send.sent > 0 ? Math.max(0, 1 - rec.received / send.sent) : 0,
    pps: rec.received / send.seconds,
    sentPps: send.pps,
    seconds: send.seconds,
    send,
    recv: rec,
  };
}
