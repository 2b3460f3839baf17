/**
 * Test harness for the BGP speaker: an in-memory network of TCP-like
 * connections (ordered, reliable byte streams with a bounded send buffer,
 * delivered when the test pumps, never from inside a call), a router stub
 * that records what the speaker installs, and a fake clock.
 */
import { formatPrefix, parsePrefix } from "../../../fib/prefix.ts";
import type { Family } from "../../../fib/types.ts";
import { parseBgpConfig } from "../../../router/bgp/config.ts";
import {
  type BgpRouterHooks,
  BgpSpeaker,
  type BgpSpeakerOptions,
} from "../../../router/bgp/speaker.ts";
import type {
  BgpConnection,
  BgpTransport,
  ConnectOptions,
  ListenOptions,
  TcpEndpoint,
  TransportUser,
} from "../../../router/bgp/transport.ts";

export function addr(text: string): Uint32Array {
  const p = parsePrefix(text);
  if (!p.ok) throw new Error(p.error);
  return p.prefix.words;
}

function keyOf(family: Family, a: ArrayLike<number>): string {
  return `${family}/${Array.from(a).join(".")}`;
}

export class MemoryConnection implements BgpConnection {
  peer!: MemoryConnection;
  user: TransportUser | undefined;
  open = true;
  /** Octets sent but not yet delivered. */
  inFlight = 0;
  blocked = false;
  sent = 0;

  constructor(
    readonly net: MemoryNet,
    readonly id: string,
    readonly local: TcpEndpoint,
    readonly remote: TcpEndpoint,
  ) {
    net.connections.set(id, this);
  }

  sendSpace(): number {
    return this.open ? Math.max(0, this.net.sendBuffer - this.inFlight) : 0;
  }

  send(bytes: Uint8Array): number {
    if (!this.open) return 0;
    const n = Math.min(bytes.length, this.sendSpace());
    if (n < bytes.length) this.blocked = true;
    if (n === 0) return 0;
    const copy = bytes.slice(0, n);
    this.inFlight += n;
    this.sent += n;
    this.net.schedule(() => {
      this.inFlight -= n;
      if (this.net.cut.has(this.id) || this.net.cut.has(this.peer.id)) return;
      if (this.peer.open && this.peer.user) this.peer.user.data(this.peer, copy, this.net.now);
      if (this.blocked && this.open) {
        this.blocked = false;
        this.user?.writable?.(this);
      }
    });
    return n;
  }

  close(_now: number): void {
    if (!this.open) return;
    this.open = false;
    this.net.schedule(() => {
      if (this.net.cut.has(this.id)) return;
      if (this.peer.open) this.peer.user?.peerClosed(this.peer);
    });
  }

  abort(_now: number): void {
    if (!this.open) return;
    this.open = false;
    this.net.schedule(() => {
      if (this.net.cut.has(this.id)) return;
      if (this.peer.open) {
        this.peer.open = false;
        this.peer.user?.closed(this.peer, "reset");
      }
    });
  }
}

export class MemoryTransport implements BgpTransport {
  listeners: ListenOptions[] = [];
  connects = 0;

  constructor(
    readonly net: MemoryNet,
    readonly name: string,
  ) {}

  listen(options: ListenOptions): unknown {
    this.listeners.push(options);
    return {};
  }

  connect(
    local: TcpEndpoint,
    remote: TcpEndpoint,
    options: ConnectOptions,
    _now: number,
  ): BgpConnection {
    this.connects++;
    const id = `${this.name}#${++this.net.ids}`;
    const c = new MemoryConnection(this.net, id, local, { ...remote });
    c.user = options.user;
    this.net.schedule(() => {
      const host = this.net.hosts.get(keyOf(remote.family, remote.address));
      const listener = host?.listeners.find(
        (l) => l.family === remote.family && l.port === remote.port,
      );
      if (!host || !listener || this.net.refuse.has(host.name) || !c.open) {
        c.open = false;
        c.user?.closed(c, "refused");
        return;
      }
      const s = new MemoryConnection(
        this.net,
        `${host.name}#${++this.net.ids}`,
        { ...remote },
        { ...local, port: 40000 + this.net.ids },
      );
      s.user = listener.user;
      c.peer = s;
      s.peer = c;
      // The client learns of the connection first (SYN-ACK), then the server (ACK).
      c.user?.connected(c);
      listener.user.accepted?.(s);
    });
    return c;
  }
}

export class MemoryNet {
  queue: (() => void)[] = [];
  hosts = new Map<string, MemoryTransport>();
  connections = new Map<string, MemoryConnection>();
  ids = 0;
  now = 0;
  sendBuffer = 256 * 1024;
  /** Connection ids whose traffic is silently dropped. */
  cut = new Set<string>();
  /** Hosts that refuse connections. */
  refuse = new Set<string>();

  transport(name: string, addresses: Uint32Array[]): MemoryTransport {
    const t = new MemoryTransport(this, name);
    for (const a of addresses) this.hosts.set(keyOf(a.length === 1 ? 4 : 6, a), t);
    return t;
  }

  schedule(f: () => void): void {
    this.queue.push(f);
  }

  /** Runs queued deliveries (and those they cause) up to `max`; answers how many ran. */
  deliver(max = 1_000_000): number {
    let n = 0;
    while (this.queue.length > 0 && n < max) {
      const batch = this.queue;
      this.queue = [];
      for (const f of batch) {
        f();
        n++;
      }
    }
    return n;
  }
}

export interface Installed {
  nextHop: string;
  distance: number;
}

/** A router stub: connected routes, reachability, and a FIB-like record of installs. */
export class RouterStub implements BgpRouterHooks {
  installed = new Map<string, Installed>();
  installs = 0;
  removes = 0;
  commits = 0;
  unreachable = new Set<string>();
  metrics = new Map<string, number>();
  local: { source: "connected" | "static"; family: Family; prefix: Uint32Array; length: number }[] =
    [];

  constructor(readonly addresses: Uint32Array[]) {}

  install(
    family: Family,
    prefix: Uint32Array,
    length: number,
    nextHop: Uint32Array,
    distance: number,
  ): void {
    this.installs++;
    this.installed.set(formatPrefix(family, prefix, length), {
      nextHop: formatPrefix(family, nextHop, family === 4 ? 32 : 128).split("/")[0],
      distance,
    });
  }

  remove(family: Family, prefix: Uint32Array, length: number): void {
    this.removes++;
    this.installed.delete(formatPrefix(family, prefix, length));
  }

  commit(): void {
    this.commits++;
  }

  resolve(family: Family, nextHop: Uint32Array): { reachable: boolean; metric: number } {
    const text = formatPrefix(family, nextHop, family === 4 ? 32 : 128).split("/")[0];
    return { reachable: !this.unreachable.has(text), metric: this.metrics.get(text) ?? 0 };
  }

  sourceAddressFor(family: Family, _remote: Uint32Array): Uint32Array | undefined {
    return this.addresses.find((a) => (a.length === 1 ? 4 : 6) === family);
  }

  localRoutes() {
    return this.local;
  }

  addLocal(source: "connected" | "static", text: string): void {
    const p = parsePrefix(text);
    if (!p.ok) throw new Error(p.error);
    this.local.push({
      source,
      family: p.prefix.family,
      prefix: p.prefix.words,
      length: p.prefix.length,
    });
  }
}

export interface Node {
  speaker: BgpSpeaker;
  router: RouterStub;
  transport: MemoryTransport;
  logs: string[];
}

/** A speaker on the network with addresses `addresses` and `bgp` as its configuration. */
export function node(
  net: MemoryNet,
  name: string,
  addresses: string[],
  bgp: unknown,
  options: BgpSpeakerOptions = {},
): Node {
  const words = addresses.map(addr);
  const cfg = parseBgpConfig(
    bgp,
    words.filter((w) => w.length === 1).map((w) => w[0]),
  );
  if (!cfg.ok) throw new Error(cfg.errors.join("\n"));
  const router = new RouterStub(words);
  const transport = net.transport(name, words);
  const logs: string[] = [];
  let seed = 1;
  const speaker = new BgpSpeaker(cfg.config, router, transport, {
    random: () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    },
    log: (e) => logs.push(`${e.neighbor ?? "-"} ${e.event}${e.detail ? `: ${e.detail}` : ""}`),
    ...options,
  });
  return { speaker, router, transport, logs };
}

/** Advances the fake clock to `until` in steps, delivering traffic and polling every speaker. */
export function run(net: MemoryNet, nodes: Node[], until: number, step = 100): void {
  for (;;) {
    for (let i = 0; i < 100; i++) {
      net.deliver();
      let busy = false;
      for (const n of nodes) if (n.speaker.poll(net.now) <= net.now) busy = true;
      if (!busy && net.queue.length === 0) break;
    }
    if (net.now >= until) break;
    net.now = Math.min(until, net.now + step);
  }
}

export function stateOf(n: Node, neighbor: string): string {
  return n.speaker.neighbors().find((s) => s.name === neighbor)?.state ?? "?";
}

/**
 * A scripted peer: it listens on `address`, answers a connection with OPEN
 * and KEEPALIVE, records every message it receives and sends whatever bytes
 * a test gives it (well formed or not).
 */
export class RawPeer {
  readonly transport: MemoryTransport;
  conn: MemoryConnection | undefined;
  received: Uint8Array[] = [];
  closed = false;
  private partial = new Uint8Array(0);

  constructor(
    readonly net: MemoryNet,
    name: string,
    readonly address: Uint32Array,
    readonly open: () => Uint8Array,
    readonly autoKeepalive = true,
  ) {
    this.transport = net.transport(name, [address]);
    const self = this;
    this.transport.listen({
      family: address.length === 1 ? 4 : 6,
      port: 179,
      mss: 1400,
      user: {
        accepted(c) {
          self.conn = c as MemoryConnection;
          self.closed = false;
          self.received = [];
          c.send(self.open());
          if (self.autoKeepalive) c.send(KEEPALIVE_BYTES);
        },
        connected() {},
        data(_c, bytes) {
          const all = new Uint8Array(self.partial.length + bytes.length);
          all.set(self.partial);
          all.set(bytes, self.partial.length);
          let at = 0;
          while (all.length - at >= 19) {
            const len = (all[at + 16] << 8) | all[at + 17];
            if (all.length - at < len) break;
            self.received.push(all.slice(at, at + len));
            at += len;
          }
          self.partial = all.slice(at);
        },
        peerClosed() {
          self.closed = true;
        },
        closed() {
          self.closed = true;
        },
      },
    });
  }

  send(bytes: Uint8Array): void {
    if (!this.conn) throw new Error("raw peer has no connection");
    let at = 0;
    while (at < bytes.length) {
      const n = this.conn.send(bytes.subarray(at));
      if (n === 0) this.net.deliver();
      at += n;
    }
  }

  /** Received messages of one type. */
  ofType(type: number): Uint8Array[] {
    return this.received.filter((m) => m[18] === type);
  }
}

const KEEPALIVE_BYTES = (() => {
  const b = new Uint8Array(19).fill(0xff);
  b[16] = 0;
  b[17] = 19;
  b[18] = 4;
  return b;
})();
