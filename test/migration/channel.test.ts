import tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Channel,
  ChannelServer,
  connectPeer,
  newMigrationId,
} from "../../migration/channel.ts";
import { type ChannelConfig, parseChannelConfig } from "../../migration/config.ts";
import { AbortReason, MigrationError } from "../../migration/errors.ts";
import type { Message } from "../../migration/messages.ts";
import { StreamReader, StreamWriter } from "../../migration/stream.ts";
import { type Certificate, config, hasOpenssl, makeCertificate, newKey, Relay } from "./peers.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Accepted {
  channel: Channel;
  peer: string;
  messages: Message[];
  closed?: { reason: AbortReason; detail: string };
}

/** A server that accepts every hello, records what it gets, and echoes "ready" to "commit". */
async function serve(cfg: ChannelConfig) {
  const accepted: Accepted[] = [];
  const refused: string[] = [];
  const server = new ChannelServer(cfg, {
    onHello: (info) => (channel) => {
      const a: Accepted = { channel, peer: info.peer, messages: [] };
      accepted.push(a);
      channel.start(
        (m) => {
          a.messages.push(m);
          if (m.type === "commit") channel.send({ type: "ready" });
        },
        (reason, detail) => {
          a.closed = { reason, detail };
        },
      );
    },
    onRefused: (_remote, reason) => refused.push(reason),
  });
  const address = await server.listen();
  cleanups.push(() => server.close());
  return { server, port: address.port, accepted, refused };
}

function request(router = "vr1") {
  return { purpose: "migrate" as const, router, migrationId: newMigrationId(), epoch: 4 };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function exchange(ch: Channel): Promise<Message> {
  return new Promise((resolve, reject) => {
    ch.start(resolve, (_r, d) => reject(new Error(d)));
    ch.send({ type: "commit" });
  });
}

describe("the channel with pre-shared keys", () => {
  it("authenticates both ends and carries messages both ways", async () => {
    const key = newKey();
    const srv = await serve(config("pr2", [{ name: "pr1", port: 1, auth: { psk: key } }]));
    const cli = config("pr1", [{ name: "pr2", port: srv.port, auth: { psk: key } }]);
    const ch = await connectPeer(cli, "pr2", request());
    cleanups.push(() => ch.destroy());
    expect(ch.peer).toBe("pr2");
    expect(await exchange(ch)).toEqual({ type: "ready" });
    expect(srv.accepted[0].peer).toBe("pr1");
    expect(srv.accepted[0].messages).toEqual([{ type: "commit" }]);
  });

  it("refuses a hypervisor it does not know", async () => {
    const srv = await serve(config("pr2", [{ name: "pr9", port: 1, auth: { psk: newKey() } }]));
    const cli = config("pr1", [{ name: "pr2", port: srv.port, auth: { psk: newKey() } }]);
    const e = await connectPeer(cli, "pr2", request()).catch((x) => x);
    expect(e).toBeInstanceOf(MigrationError);
    expect(e.code).toBe("AuthFailed");
    expect(e.message).toMatch(
      /pr2 does not know this hypervisor \(pr1\) or the pre-shared key differs/,
    );
    await until(() => srv.refused.length > 0);
    expect(srv.refused.join()).toMatch(/unknown PSK identity 'pr1'/);
    expect(srv.accepted).toEqual([]);
  });

  it("refuses a wrong key", async () => {
    const srv = await serve(config("pr2", [{ name: "pr1", port: 1, auth: { psk: newKey() } }]));
    const cli = config("pr1", [{ name: "pr2", port: srv.port, auth: { psk: newKey() } }]);
    const e = await connectPeer(cli, "pr2", request()).catch((x) => x);
    expect(e.code).toBe("AuthFailed");
    expect(e.message).toMatch(/TLS handshake with pr2 at 127\.0\.0\.1:\d+ failed/);
    expect(srv.accepted).toEqual([]);
  });

  it("refuses a hello meant for another hypervisor", async () => {
    const key = newKey();
    const srv = await serve(config("pr3", [{ name: "pr1", port: 1, auth: { psk: key } }]));
    const cli = config("pr1", [{ name: "pr2", port: srv.port, auth: { psk: key } }]);
    const e = await connectPeer(cli, "pr2", request()).catch((x) => x);
    expect(e.code).toBe("Refused");
    expect(e.refusal).toBe("WrongHost");
    expect(e.message).toMatch(/this is pr3, not pr2/);
  });

  it("refuses a hello whose name is not the one the key belongs to", async () => {
    const key = newKey();
    const srv = await serve(config("pr2", [{ name: "pr1", port: 1, auth: { psk: key } }]));
    // A client holding pr1's key that says it is pr7.
    const socket = tls.connect({
      host: "127.0.0.1",
      port: srv.port,
      minVersion: "TLSv1.3",
      ciphers: "TLS_AES_128_GCM_SHA256",
      pskCallback: () => ({ psk: Buffer.from(key, "hex"), identity: "pr1" }),
      checkServerIdentity: () => undefined,
    });
    cleanups.push(() => void socket.destroy());
    const id = newMigrationId();
    const reader = new StreamReader();
    const answer = new Promise<Message>((resolve) => {
      socket.on("data", (d: Buffer) => {
        reader.push(d);
        const r = reader.next();
        if (r?.ok) resolve(r.message);
      });
    });
    await new Promise((r) => socket.once("secureConnect", r));
    for (const f of new StreamWriter(id, 4).encode({
      type: "hello",
      purpose: "migrate",
      from: "pr7",
      to: "pr2",
      router: "vr1",
    }))
      socket.write(f);
    expect(await answer).toMatchObject({
      type: "refuse",
      code: "UnknownPeer",
      message: expect.stringMatching(/comes from pr7, the credentials are pr1's/),
    });
  });

  it("says which peer is unknown or unreachable", async () => {
    const cli = config("pr1", [{ name: "pr2", port: 1, auth: { psk: newKey() } }]);
    const unknown = await connectPeer(cli, "pr5", request()).catch((x) => x);
    expect(unknown.code).toBe("UnknownPeer");
    expect(unknown.message).toMatch(/no peer pr5 in the configuration \(peers: pr2\)/);
    const down = await connectPeer(cli, "pr2", request()).catch((x) => x);
    expect(down.code).toBe("Unreachable");
    expect(down.message).toMatch(/cannot reach pr2 at 127\.0\.0\.1:1: ECONNREFUSED/);
  });

  it("aborts on a tampered TLS record: the integrity check fails", async () => {
    const key = newKey();
    const srv = await serve(config("pr2", [{ name: "pr1", port: 1, auth: { psk: key } }]));
    const relay = await Relay.start(srv.port);
    cleanups.push(() => relay.close());
    const cli = config("pr1", [{ name: "pr2", port: relay.port, auth: { psk: key } }]);
    const ch = await connectPeer(cli, "pr2", request());
    cleanups.push(() => ch.destroy());
    let clientEnd: string | undefined;
    ch.start(
      () => {},
      (_r, d) => {
        clientEnd = d;
      },
    );
    relay.corruptAfter = 0;
    ch.send({ type: "blob", kind: 3, round: 0, seq: 1, bytes: new Uint8Array(5000).fill(3) });
    await until(() => srv.accepted[0]?.closed !== undefined);
    expect(srv.accepted[0].closed?.reason).toBe(AbortReason.BadFrame);
    expect(srv.accepted[0].closed?.detail).toMatch(/integrity check failed/);
    expect(srv.accepted[0].messages).toEqual([]);
    await until(() => clientEnd !== undefined);
  });

  it("aborts on a malformed frame inside a valid channel", async () => {
    const key = newKey();
    const srv = await serve(config("pr2", [{ name: "pr1", port: 1, auth: { psk: key } }]));
    const socket = tls.connect({
      host: "127.0.0.1",
      port: srv.port,
      minVersion: "TLSv1.3",
      ciphers: "TLS_AES_128_GCM_SHA256",
      pskCallback: () => ({ psk: Buffer.from(key, "hex"), identity: "pr1" }),
      checkServerIdentity: () => undefined,
    });
    cleanups.push(() => void socket.destroy());
    await new Promise((r) => socket.once("secureConnect", r));
    const w = new StreamWriter(newMigrationId(), 4);
    for (const f of w.encode({
      type: "hello",
      purpose: "migrate",
      from: "pr1",
      to: "pr2",
      router: "vr1",
    }))
      socket.write(f);
    await until(() => srv.accepted.length === 1);
    const frame = w.encode({ type: "commit" })[0];
    frame[frame.length - 1] ^= 1; // bad CRC
    socket.write(frame);
    await until(() => srv.accepted[0].closed !== undefined);
    expect(srv.accepted[0].closed).toMatchObject({
      reason: AbortReason.BadFrame,
      detail: expect.stringMatching(/CRC mismatch/),
    });
    expect(srv.accepted[0].messages).toEqual([]);
  });

  it("aborts on a replayed frame inside a valid channel", async () => {
    const key = newKey();
    const srv = await serve(config("pr2", [{ name: "pr1", port: 1, auth: { psk: key } }]));
    const socket = tls.connect({
      host: "127.0.0.1",
      port: srv.port,
      minVersion: "TLSv1.3",
      ciphers: "TLS_AES_128_GCM_SHA256",
      pskCallback: () => ({ psk: Buffer.from(key, "hex"), identity: "pr1" }),
      checkServerIdentity: () => undefined,
    });
    cleanups.push(() => void socket.destroy());
    await new Promise((r) => socket.once("secureConnect", r));
    const w = new StreamWriter(newMigrationId(), 4);
    for (const f of w.encode({
      type: "hello",
      purpose: "migrate",
      from: "pr1",
      to: "pr2",
      router: "vr1",
    }))
      socket.write(f);
    const commit = w.encode({ type: "commit" })[0];
    socket.write(commit);
    socket.write(commit);
    await until(() => srv.accepted[0]?.closed !== undefined);
    expect(srv.accepted[0].messages).toEqual([{ type: "commit" }]);
    expect(srv.accepted[0].closed?.detail).toMatch(/replayed frame/);
  });
});

describe.skipIf(!hasOpenssl())("the channel with pinned certificates", () => {
  let c1: Certificate;
  let c2: Certificate;
  let c3: Certificate;

  it("makes certificates", () => {
    c1 = makeCertificate("pr1");
    c2 = makeCertificate("pr2");
    c3 = makeCertificate("pr3");
    expect(c1.fingerprint).not.toBe(c2.fingerprint);
  });

  it("authenticates both ends by fingerprint", async () => {
    const srv = await serve(
      config("pr2", [{ name: "pr1", port: 1, auth: { fingerprint: c1.fingerprint } }], {
        certificate: c2,
      }),
    );
    const cli = config(
      "pr1",
      [{ name: "pr2", port: srv.port, auth: { fingerprint: c2.fingerprint } }],
      { certificate: c1 },
    );
    const ch = await connectPeer(cli, "pr2", request());
    cleanups.push(() => ch.destroy());
    expect(await exchange(ch)).toEqual({ type: "ready" });
    expect(srv.accepted[0].peer).toBe("pr1");
  });

  it("refuses a server whose certificate is not the pinned one", async () => {
    const srv = await serve(
      config("pr2", [{ name: "pr1", port: 1, auth: { fingerprint: c1.fingerprint } }], {
        certificate: c3,
      }),
    );
    const cli = config(
      "pr1",
      [{ name: "pr2", port: srv.port, auth: { fingerprint: c2.fingerprint } }],
      { certificate: c1 },
    );
    const e = await connectPeer(cli, "pr2", request()).catch((x) => x);
    expect(e.code).toBe("AuthFailed");
    expect(e.message).toContain(
      `presented a certificate with SHA-256 fingerprint ${c3.fingerprint}, not the pinned ${c2.fingerprint}`,
    );
    expect(srv.accepted).toEqual([]);
  });

  it("refuses a client whose certificate it does not know", async () => {
    const srv = await serve(
      config("pr2", [{ name: "pr1", port: 1, auth: { fingerprint: c1.fingerprint } }], {
        certificate: c2,
      }),
    );
    const cli = config(
      "pr1",
      [{ name: "pr2", port: srv.port, auth: { fingerprint: c2.fingerprint } }],
      { certificate: c3 },
    );
    const e = await connectPeer(cli, "pr2", request()).catch((x) => x);
    expect(e.code).toBe("AuthFailed");
    expect(e.refusal).toBe("UnknownPeer");
    expect(e.message).toContain(`no peer has certificate fingerprint ${c3.fingerprint}`);
    expect(srv.accepted).toEqual([]);
  });

  it("serves PSK and certificate peers on one listener", async () => {
    const key = newKey();
    const srv = await serve(
      config(
        "pr2",
        [
          { name: "pr1", port: 1, auth: { fingerprint: c1.fingerprint } },
          { name: "pr3", port: 1, auth: { psk: key } },
        ],
        { certificate: c2 },
      ),
    );
    const a = await connectPeer(
      config("pr1", [{ name: "pr2", port: srv.port, auth: { fingerprint: c2.fingerprint } }], {
        certificate: c1,
      }),
      "pr2",
      request(),
    );
    const b = await connectPeer(
      config("pr3", [{ name: "pr2", port: srv.port, auth: { psk: key } }]),
      "pr2",
      request(),
    );
    cleanups.push(
      () => a.destroy(),
      () => b.destroy(),
    );
    expect(srv.accepted.map((x) => x.peer).sort()).toEqual(["pr1", "pr3"]);
  });
});

describe("the channel configuration", () => {
  it("names every problem", () => {
    const r = parseChannelConfig({
      name: "pr1",
      listen: { port: 7000 },
      peers: [
        { name: "pr1", host: "h", port: 1, psk: "00".repeat(32) },
        { name: "pr2", host: "h", port: 1, psk: "00".repeat(8) },
        { name: "pr3", host: "h", port: 1, fingerprint: `${"AA:".repeat(31)}AA` },
        { name: "pr4", host: "h", port: 1 },
      ],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.join("\n")).toMatch(/peers\.1\.psk: at least 32 bytes/);
    expect(r.errors.join("\n")).toMatch(/peers\.3: give exactly one of psk and fingerprint/);
    const r2 = parseChannelConfig({
      name: "pr1",
      listen: { port: 7000 },
      peers: [
        { name: "pr1", host: "h", port: 1, psk: "00".repeat(32) },
        { name: "pr3", host: "h", port: 1, fingerprint: "aa".repeat(32) },
        { name: "pr3", host: "h", port: 1, psk: "00".repeat(32) },
      ],
    });
    expect(r2.ok).toBe(false);
    if (r2.ok) return;
    expect(r2.errors).toEqual([
      "peers.0.name: 'pr1' is this hypervisor's own name",
      "peers.1.fingerprint: peer 'pr3' authenticates by certificate, so this hypervisor needs one (certificate.cert, certificate.key)",
      "peers.2.name: duplicate peer 'pr3'",
    ]);
  });
});
