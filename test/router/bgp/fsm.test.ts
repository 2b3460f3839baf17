/** The per-connection FSM (RFC 4271 section 8), state by state, with a fake clock; collision detection (6.8). */
import { describe, expect, it } from "vitest";
import {
  type BgpError,
  bgpError,
  ErrorCode,
  FsmSubcode,
  HeaderSubcode,
} from "../../../router/bgp/errors.ts";
import {
  BgpState,
  DownReason,
  type FsmHost,
  LARGE_HOLD_MS,
  type Negotiated,
  PeerFsm,
  TRANSITIONS,
} from "../../../router/bgp/fsm.ts";
import type { BgpConnection } from "../../../router/bgp/transport.ts";
import { encodeKeepalive } from "../../../router/bgp/wire/header.ts";
import { ceaseError, encodeNotification } from "../../../router/bgp/wire/notification.ts";
import { encodeOpen, type OpenRepr } from "../../../router/bgp/wire/open.ts";
import { encodeRouteRefresh } from "../../../router/bgp/wire/route-refresh.ts";
import { encodeUpdate } from "../../../router/bgp/wire/update.ts";
import { MemoryNet, node, run, stateOf } from "./harness.ts";

class FakeConn implements BgpConnection {
  id = `c${Math.random()}`;
  local = { family: 4 as const, address: Uint32Array.of(1), port: 179 };
  remote = { family: 4 as const, address: Uint32Array.of(2), port: 179 };
  sent: Uint8Array[] = [];
  closed = false;
  aborted = false;
  send(b: Uint8Array): number {
    this.sent.push(b.slice());
    return b.length;
  }
  sendSpace(): number {
    return 1 << 20;
  }
  close(): void {
    this.closed = true;
  }
  abort(): void {
    this.aborted = true;
  }
  types(): number[] {
    return this.sent.map((m) => m[18]);
  }
}

const OPEN: OpenRepr = { version: 4, myAs: 65002, holdTime: 9, bgpId: 2, capabilities: [] };

class FakeHost implements FsmHost {
  name = "peer";
  conns: FakeConn[] = [];
  idled: { reason: DownReason; error: BgpError | undefined }[] = [];
  establishedCount = 0;
  openError: BgpError | undefined;
  collision = true;
  updates = 0;
  random = () => 0.5;
  openMessage(): OpenRepr {
    return { version: 4, myAs: 65001, holdTime: 90, bgpId: 1, capabilities: [] };
  }
  acceptOpen(_f: PeerFsm, open: OpenRepr): BgpError | Negotiated {
    if (this.openError) return this.openError;
    const holdTime = Math.min(90, open.holdTime);
    return {
      holdTime,
      keepaliveMs: Math.floor(holdTime / 3) * 1000,
      as4: true,
      families: [4],
      routeRefresh: false,
      peerId: open.bgpId,
      peerAs: 65002,
      peerOpen: open,
    };
  }
  resolveCollision(): boolean {
    return this.collision;
  }
  connect(): BgpConnection {
    const c = new FakeConn();
    this.conns.push(c);
    return c;
  }
  established(): void {
    this.establishedCount++;
  }
  update(): BgpError | undefined {
    this.updates++;
    return undefined;
  }
  routeRefresh(): BgpError | undefined {
    return undefined;
  }
  idle(_f: PeerFsm, _now: number, reason: DownReason, error: BgpError | undefined): void {
    this.idled.push({ reason, error });
  }
  writable(): void {}
  countIn(): void {}
  countOut(): void {}
}

function up(host = new FakeHost(), hold = 9) {
  const fsm = new PeerFsm(host, true, 120_000, 90);
  fsm.start(0);
  const conn = host.conns[0];
  fsm.connected(10);
  fsm.receive(encodeOpen({ ...OPEN, holdTime: hold }), 20);
  fsm.receive(encodeKeepalive(), 30);
  return { fsm, host, conn };
}

describe("FSM states", () => {
  it("Idle → Connect → OpenSent → OpenConfirm → Established, with the messages each step sends", () => {
    const host = new FakeHost();
    const fsm = new PeerFsm(host, true, 120_000, 90);
    expect(fsm.state).toBe(BgpState.Idle);
    fsm.start(0);
    expect(fsm.state).toBe(BgpState.Connect);
    // ConnectRetry jittered into [0.75, 1] of 120 s.
    expect(fsm.connectRetryAt).toBe(Math.round(120_000 * (0.75 + 0.25 * 0.5)));
    const conn = host.conns[0];
    fsm.connected(10);
    expect(fsm.state).toBe(BgpState.OpenSent);
    expect(conn.types()).toEqual([1]);
    expect(fsm.holdAt).toBe(10 + LARGE_HOLD_MS);
    expect(fsm.connectRetryAt).toBe(Number.POSITIVE_INFINITY);
    fsm.receive(encodeOpen(OPEN), 20);
    expect(fsm.state).toBe(BgpState.OpenConfirm);
    expect(conn.types()).toEqual([1, 4]);
    expect(fsm.holdAt).toBe(20 + 9000);
    fsm.receive(encodeKeepalive(), 30);
    expect(fsm.state).toBe(BgpState.Established);
    expect(host.establishedCount).toBe(1);
  });

  it("Established: keepalives at a jittered third of the hold time, hold timer restarted by messages", () => {
    const { fsm, conn } = up();
    const ka = fsm.keepaliveAt;
    expect(ka).toBeGreaterThanOrEqual(20 + 3000 * 0.75);
    expect(ka).toBeLessThanOrEqual(20 + 3000);
    fsm.poll(ka);
    expect(conn.types().at(-1)).toBe(4);
    fsm.receive(encodeKeepalive(), 5000);
    fsm.poll(5000);
    expect(fsm.holdAt).toBe(14_000);
    fsm.receive(encodeUpdate({}), 6000);
    fsm.poll(6000);
    expect(fsm.holdAt).toBe(15_000);
  });

  it("hold timer expiry sends NOTIFICATION Hold Timer Expired and goes Idle", () => {
    const { fsm, host, conn } = up();
    fsm.poll(30);
    fsm.poll(fsm.holdAt - 1);
    expect(fsm.state).toBe(BgpState.Established);
    fsm.poll(fsm.holdAt);
    expect(fsm.state).toBe(BgpState.Idle);
    expect(conn.sent.at(-1)!.subarray(18)).toEqual(Uint8Array.of(3, ErrorCode.HoldTimerExpired, 0));
    expect(conn.closed).toBe(true);
    expect(host.idled).toEqual([{ reason: DownReason.HoldTimerExpired, error: bgpError(4, 0) }]);
  });

  it("a hold time of 0 turns off hold and keepalive timers", () => {
    const { fsm } = up(new FakeHost(), 0);
    expect(fsm.state).toBe(BgpState.Established);
    expect(fsm.holdAt).toBe(Number.POSITIVE_INFINITY);
    expect(fsm.keepaliveAt).toBe(Number.POSITIVE_INFINITY);
    expect(fsm.poll(1e12)).toBe(Number.POSITIVE_INFINITY);
  });

  it("Connect: ConnectRetry expiry reconnects; a failed connection goes Idle", () => {
    const host = new FakeHost();
    const fsm = new PeerFsm(host, true, 1000, 90);
    fsm.start(0);
    fsm.poll(fsm.connectRetryAt);
    expect(fsm.state).toBe(BgpState.Connect);
    expect(host.conns).toHaveLength(2);
    expect(host.conns[0].aborted).toBe(true);
    fsm.connectionFailed(2000, false);
    expect(fsm.state).toBe(BgpState.Idle);
    expect(host.idled[0].reason).toBe(DownReason.ConnectionFailed);
  });

  it("OpenSent: a lost connection goes to Active, and ConnectRetry brings Connect back", () => {
    const host = new FakeHost();
    const fsm = new PeerFsm(host, true, 1000, 90);
    fsm.start(0);
    fsm.connected(10);
    fsm.connectionFailed(20, true);
    expect(fsm.state).toBe(BgpState.Active);
    fsm.poll(fsm.connectRetryAt);
    expect(fsm.state).toBe(BgpState.Connect);
    expect(host.conns).toHaveLength(2);
  });

  it("an accepted connection starts in Active and sends OPEN at once", () => {
    const host = new FakeHost();
    const fsm = new PeerFsm(host, false, 1000, 90);
    const conn = new FakeConn();
    fsm.start(0, conn);
    expect(fsm.state).toBe(BgpState.OpenSent);
    expect(conn.types()).toEqual([1]);
    fsm.connectionFailed(5, true);
    expect(fsm.state).toBe(BgpState.Idle);
    expect(host.idled[0].reason).toBe(DownReason.PeerClosed);
  });

  it("OpenSent: a refused OPEN is answered with its NOTIFICATION", () => {
    const host = new FakeHost();
    host.openError = bgpError(2, 2);
    const fsm = new PeerFsm(host, true, 1000, 90);
    fsm.start(0);
    fsm.connected(1);
    fsm.receive(encodeOpen(OPEN), 2);
    expect(fsm.state).toBe(BgpState.Idle);
    expect(host.conns[0].sent.at(-1)!.subarray(18)).toEqual(Uint8Array.of(3, 2, 2));
  });

  it("unexpected messages: FSM error with the subcode of the state (RFC 6608)", () => {
    const cases: [string, (f: PeerFsm) => void, Uint8Array, number][] = [
      [
        "KEEPALIVE in OpenSent",
        (f) => f.connected(1),
        encodeKeepalive(),
        FsmSubcode.UnexpectedInOpenSent,
      ],
      [
        "UPDATE in OpenConfirm",
        (f) => {
          f.connected(1);
          f.receive(encodeOpen(OPEN), 2);
        },
        encodeUpdate({}),
        FsmSubcode.UnexpectedInOpenConfirm,
      ],
      [
        "OPEN in Established",
        (f) => {
          f.connected(1);
          f.receive(encodeOpen(OPEN), 2);
          f.receive(encodeKeepalive(), 3);
        },
        encodeOpen(OPEN),
        FsmSubcode.UnexpectedInEstablished,
      ],
      [
        "ROUTE-REFRESH in OpenSent",
        (f) => f.connected(1),
        encodeRouteRefresh({ afi: 1, safi: 1, subtype: 0 }),
        FsmSubcode.UnexpectedInOpenSent,
      ],
    ];
    for (const [name, prep, msg, sub] of cases) {
      const host = new FakeHost();
      const fsm = new PeerFsm(host, true, 1000, 90);
      fsm.start(0);
      prep(fsm);
      fsm.receive(msg, 10);
      expect(fsm.state, name).toBe(BgpState.Idle);
      expect(host.conns[0].sent.at(-1)!.subarray(18), name).toEqual(
        Uint8Array.of(3, ErrorCode.FiniteStateMachine, sub),
      );
    }
  });

  it("a header error is answered and ends the connection", () => {
    const { fsm, conn, host } = up();
    const bad = encodeKeepalive();
    bad[0] = 0;
    fsm.receive(bad, 100);
    expect(fsm.state).toBe(BgpState.Idle);
    expect(conn.sent.at(-1)!.subarray(18)).toEqual(
      Uint8Array.of(3, 1, HeaderSubcode.ConnectionNotSynchronized),
    );
    expect(host.idled[0].reason).toBe(DownReason.NotificationSent);
  });

  it("a NOTIFICATION received ends the session without an answer", () => {
    const { fsm, conn, host } = up();
    const n = conn.sent.length;
    fsm.receive(encodeNotification(ceaseError(2, "bye")), 100);
    expect(fsm.state).toBe(BgpState.Idle);
    expect(conn.sent.length).toBe(n);
    expect(host.idled[0]).toMatchObject({
      reason: DownReason.NotificationReceived,
      error: { code: 6, subcode: 2 },
    });
  });

  it("ManualStop sends Cease from OpenSent on, and closes quietly before", () => {
    const { fsm, conn } = up();
    fsm.stop(100);
    expect(conn.sent.at(-1)!.subarray(18, 21)).toEqual(Uint8Array.of(3, 6, 2));
    const host = new FakeHost();
    const early = new PeerFsm(host, true, 1000, 90);
    early.start(0);
    early.stop(1);
    expect(host.conns[0].aborted).toBe(true);
    expect(host.conns[0].sent).toHaveLength(0);
  });

  it("OpenCollisionDump sends Cease / Connection Collision Resolution", () => {
    const host = new FakeHost();
    host.collision = false;
    const fsm = new PeerFsm(host, true, 1000, 90);
    fsm.start(0);
    fsm.connected(1);
    fsm.receive(encodeOpen(OPEN), 2);
    expect(fsm.state).toBe(BgpState.Idle);
    expect(host.conns[0].sent.at(-1)!.subarray(18)).toEqual(Uint8Array.of(3, 6, 7));
    expect(host.idled[0].reason).toBe(DownReason.CollisionLost);
  });

  it("writes down its transitions, and every state can reach Idle but Idle itself", () => {
    expect(TRANSITIONS).toHaveLength(6);
    for (let s = 1; s < 6; s++) expect(TRANSITIONS[s]).toContain(BgpState.Idle);
    expect(TRANSITIONS[BgpState.Established]).toEqual([BgpState.Idle]);
  });
});

describe("connection collision (RFC 4271 6.8)", () => {
  function speakers(idA: string, idB: string, asA = 65001, asB = 65002) {
    const net = new MemoryNet();
    const mk = (name: string, me: string, peer: string, asn: number, pasn: number, id: string) =>
      node(net, name, [me], { asn, routerId: id, neighbors: [{ address: peer, asn: pasn }] });
    const a = mk("a", "198.18.0.1", "198.18.0.2", asA, asB, idA);
    const b = mk("b", "198.18.0.2", "198.18.0.1", asB, asA, idB);
    a.speaker.start(0);
    b.speaker.start(0);
    run(net, [a, b], 1000);
    return { a, b };
  }

  it("keeps the connection opened by the speaker with the higher identifier", () => {
    const { a, b } = speakers("198.18.0.1", "198.18.0.2");
    expect(stateOf(a, "198.18.0.2")).toBe("Established");
    expect(stateOf(b, "198.18.0.1")).toBe("Established");
    expect(a.speaker.neighbor("198.18.0.2")!.session!.outgoing).toBe(false);
    expect(b.speaker.neighbor("198.18.0.1")!.session!.outgoing).toBe(true);
    expect(a.speaker.neighbors()[0].connections).toEqual([
      { state: "Established", outgoing: false },
    ]);
    expect(a.speaker.neighbors()[0].lastError).toBeUndefined();
  });

  it("with equal identifiers (eBGP), the speaker with the higher AS wins (RFC 6286)", () => {
    const { a, b } = speakers("192.0.2.1", "192.0.2.1", 65010, 65002);
    expect(stateOf(a, "198.18.0.2")).toBe("Established");
    expect(a.speaker.neighbor("198.18.0.2")!.session!.outgoing).toBe(true);
    expect(b.speaker.neighbor("198.18.0.1")!.session!.outgoing).toBe(false);
  });

  it("refuses a connection while Established (Cease / Connection Rejected)", () => {
    const { a } = speakers("198.18.0.1", "198.18.0.2");
    const n = a.speaker.neighbor("198.18.0.2")!;
    const c = new FakeConn();
    n.accept(c, 2000);
    expect(c.sent[0].subarray(18)).toEqual(Uint8Array.of(3, 6, 5));
    expect(c.closed).toBe(true);
    expect(stateOf(a, "198.18.0.2")).toBe("Established");
  });
});
