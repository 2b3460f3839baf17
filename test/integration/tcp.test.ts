/**
 * The router's own userspace TCP (router/tcp/) against the Linux kernel's
 * TCP, over a TUN device in a namespace: the kernel's connection to a port
 * nobody listens on is refused with a reset; a kernel client exchanges
 * megabytes with a listener of the router (both directions, IPv4 and IPv6);
 * the router opens a connection to a kernel server; and RFC 2385 MD5
 * signatures interoperate with the kernel's TCP_MD5SIG, a wrong key
 * keeping the connection from ever opening.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { VirtualRouter } from "../../router/router.ts";
import type { TcpConnection } from "../../router/tcp/connection.ts";
import { TcpCloseReason } from "../../router/tcp/state.ts";
import type { TcpUser } from "../../router/tcp/types.ts";
import { ip4 } from "../router/packets.ts";
import { canRun, Lab, runIn, until, warnIfSkipped } from "./lab.ts";

warnIfSkipped("test/integration/tcp.test.ts");

const lab = new Lab("c");

/** Python in the namespace: a client or server, printing what it saw. */
const PY = String.raw`
import socket, struct, sys, hashlib, os
mode, family, addr, port, nbytes, key = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
wait = float(os.environ.get("WAIT", "15"))
fam = socket.AF_INET6 if family == "6" else socket.AF_INET
def md5(s, peer):
    if key == "-": return
    if fam == socket.AF_INET:
        sa = struct.pack("!HH4s", socket.AF_INET, 0, socket.inet_pton(fam, peer)).ljust(128, b"\0")
        sa = struct.pack("=H", socket.AF_INET) + sa[2:]
    else:
        sa = (struct.pack("=H", socket.AF_INET6) + struct.pack("!HI16sI", 0, 0, socket.inet_pton(fam, peer), 0)).ljust(128, b"\0")
    k = key.encode()
    s.setsockopt(socket.IPPROTO_TCP, 14, sa + struct.pack("=BBHI", 0, 0, len(k), 0) + k.ljust(80, b"\0"))
def exchange(s):
    data = os.urandom(nbytes)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        b = s.recv(1 << 16)
        if not b: break
        got += b
    print("sent", hashlib.sha256(data).hexdigest(), "got", hashlib.sha256(bytes(got)).hexdigest(), len(got), flush=True)
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(wait)
if mode == "client":
    md5(s, addr)
    try:
        s.connect((addr, port))
    except ConnectionRefusedError:
        print("refused", flush=True); sys.exit(0)
    except socket.timeout:
        print("timeout", flush=True); sys.exit(0)
    exchange(s)
else:
    peer = sys.argv[7]
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    md5(s, peer)
    s.bind((addr, port)); s.listen(1)
    print("listening", flush=True)
    try:
        c, _ = s.accept()
    except socket.timeout:
        print("timeout", flush=True); sys.exit(0)
    exchange(c)
`;

/** An application that echoes everything back and closes when the peer does. */
function echoUser(events: string[]): TcpUser {
  return {
    accepted: (c) => events.push(`accepted ${c.remote.port}`),
    connected: () => events.push("connected"),
    data: (c, bytes) => {
      const n = c.send(bytes);
      if (n !== bytes.length) events.push(`short send ${n}/${bytes.length}`);
    },
    peerClosed: (c) => c.close(performance.now()),
    closed: (_c, reason) => events.push(`closed ${reason}`),
  };
}

describe.skipIf(!canRun)("the router's TCP against the kernel's (root, real kernel)", () => {
  let hv: Hypervisor;
  let router: VirtualRouter;
  let ns: string;

  beforeAll(() => {
    try {
      hv = lab.hypervisor();
      router = lab.router(hv, {
        name: "tcp1",
        interfaces: [{ name: "a", layer: "l3", addresses: ["198.18.0.1/24", "2001:db8::1/64"] }],
      });
      ns = lab.ns();
      const tun = hv.addTun({ device: lab.dev("t"), up: false });
      lab.moveIn(tun.device, ns);
      lab.setup(ns, tun.device, { addresses: ["198.18.0.2/24", "2001:db8::2/64"] });
      hv.bind("tcp1", 0, tun.name);
    } catch (e) {
      lab.cleanup();
      throw e;
    }
  });
  afterAll(() => {
    try {
      lab.cleanup();
    } finally {
      lab.sweep();
    }
  });

  const py = (args: string[], wait = 15) =>
    runIn(ns, "env", [`WAIT=${wait}`, "python3", "-c", PY, ...args], (wait + 15) * 1000);

  it("answers a connection to a port nobody listens on with a reset", async () => {
    const r = await py(["client", "4", "198.18.0.1", "4444", "0", "-"]);
    expect(r.out.trim()).toBe("refused");
    const r6 = await py(["client", "6", "2001:db8::1", "4444", "0", "-"]);
    expect(r6.out.trim()).toBe("refused");
  });

  for (const [family, addr] of [
    ["4", "198.18.0.1"],
    ["6", "2001:db8::1"],
  ] as const) {
    it(`a kernel client exchanges 4 MB both ways with a listener of the router (IPv${family})`, async () => {
      const events: string[] = [];
      const listener = router.tcp.listen({
        family: family === "4" ? 4 : 6,
        port: 7000,
        mss: family === "4" ? 1460 : 1440,
        user: echoUser(events),
      });
      try {
        const r = await py(["client", family, addr, "7000", String(4 << 20), "-"]);
        const m = /sent (\w+) got (\w+) (\d+)/.exec(r.out);
        expect(m, r.out).not.toBeNull();
        expect(m![2]).toBe(m![1]);
        expect(Number(m![3])).toBe(4 << 20);
        await until(() => events.some((e) => e.startsWith("closed")), 5000, "the close");
        expect(events[0]).toMatch(/^accepted /);
        expect(events.filter((e) => e.startsWith("short"))).toEqual([]);
      } finally {
        listener.close(performance.now());
      }
    });
  }

  it("opens a connection to a kernel server and exchanges 2 MB", async () => {
    const server = py(["server", "4", "198.18.0.2", "7001", String(2 << 20), "-", "198.18.0.1"]);
    await new Promise((r) => setTimeout(r, 300));
    const received: Buffer[] = [];
    let closed: TcpCloseReason | undefined;
    const data = randomBytes(2 << 20);
    let at = 0;
    const pump = (c: TcpConnection) => {
      while (at < data.length) {
        const n = c.send(data.subarray(at, at + 65536));
        at += n;
        if (n === 0) return;
      }
      c.close(performance.now());
    };
    router.tcp.connect(
      { family: 4, address: Uint32Array.of(ip4("198.18.0.1")), port: 0 },
      { family: 4, address: Uint32Array.of(ip4("198.18.0.2")), port: 7001 },
      {
        mss: 1460,
        user: {
          connected: pump,
          writable: pump,
          data: (_c, bytes) => received.push(Buffer.from(bytes)),
          closed: (_c, reason) => {
            closed = reason;
          },
        },
      },
      performance.now(),
    );
    const r = await server;
    const m = /sent (\w+) got (\w+) (\d+)/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    // The server got exactly our bytes and we got exactly its bytes.
    expect(m![2]).toBe(createHash("sha256").update(data).digest("hex"));
    await until(() => closed !== undefined, 5000, "the close");
    expect(createHash("sha256").update(Buffer.concat(received)).digest("hex")).toBe(m![1]);
    expect(closed).toBe(TcpCloseReason.Normal);
  });

  it("signs with TCP MD5 (RFC 2385) as the kernel does; a wrong key never connects", async () => {
    const key = "vroom-md5-secret";
    const events: string[] = [];
    const keys = new Map([[ip4("198.18.0.2"), new TextEncoder().encode(key)]]);
    const listener = router.tcp.listen({
      family: 4,
      port: 7002,
      mss: 1460,
      md5KeyFor: (remote) => keys.get(remote[0]),
      user: echoUser(events),
    });
    try {
      const good = await py(["client", "4", "198.18.0.1", "7002", "100000", key]);
      const m = /sent (\w+) got (\w+) (\d+)/.exec(good.out);
      expect(m, good.out).not.toBeNull();
      expect(m![2]).toBe(m![1]);
      const badBefore = JSON.stringify(router.tcp.counters);
      const bad = await py(["client", "4", "198.18.0.1", "7002", "1000", "wrong-key"], 3);
      expect(bad.out.trim()).toBe("timeout");
      expect(JSON.stringify(router.tcp.counters)).not.toBe(badBefore);
      const none = await py(["client", "4", "198.18.0.1", "7002", "1000", "-"], 3);
      expect(none.out.trim()).toBe("timeout");
    } finally {
      listener.close(performance.now());
    }
  });
});
