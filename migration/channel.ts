/**
 * The channel between two hypervisors (docs/MIGRATION.md, "Security"): TLS
 * 1.3 over TCP, authenticated both ways, carrying the migration stream
 * (stream.ts) of one migration per connection.
 *
 * Authentication is per peer (config.ts):
 * - pre-shared key: TLS 1.3 PSK with (EC)DHE (RFC 8446, 2.2 and 4.2.9);
 *   the client's PSK identity is its hypervisor name, the server answers
 *   with the key configured for that peer and no other, so completing the
 *   handshake proves both sides hold the pair's key;
 * - certificates: both sides present one; each checks the other's SHA-256
 *   fingerprint against the one pinned for that peer (self-signed
 *   certificates are the normal case, so no CA is involved).
 * TLS gives every byte integrity and confidentiality, and its per-connection
 * keys make a frame captured on one connection useless on another; the
 * stream's sequence numbers catch replays and reordering within one.
 *
 * After the handshake the client sends HELLO (purpose, its name, the name
 * it meant to reach, the router) in the migration's first frame; the server
 * checks that the name is the authenticated peer's and that it is the host
 * meant, asks its owner whether it takes the connection, and answers
 * HELLO_OK or REFUSE with a code and a sentence. A peer the server does not
 * know never gets further than the refusal (PSK: not even through the
 * handshake).
 *
 * A `Channel` delivers messages in order to one handler and reports its end
 * once, with an `AbortReason`: ChannelLost for a closed or reset connection,
 * BadFrame for a stream fault or a TLS integrity failure.
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { type ChannelConfig, normalizeFingerprint, type PeerConfig } from "./config.ts";
import { AbortReason, MigrationError, type Refusal, RefusalCode } from "./errors.ts";
import type { HelloPurpose, Message } from "./messages.ts";
import { StreamReader, StreamWriter } from "./stream.ts";

/** TLS 1.3 suites with SHA-256, as PSK mode requires (the PSK's hash). */
const CIPHERS = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";

export type HelloMessage = Extract<Message, { type: "hello" }>;

export interface ChannelOptions {
  /** Chunk size for blobs (stream.ts). */
  chunkBytes?: number;
  /** Largest blob accepted. */
  maxBlobBytes?: number;
}

export type MessageHandler = (message: Message) => void;
export type CloseHandler = (reason: AbortReason, detail: string) => void;

/** One authenticated connection carrying one migration's stream. */
export class Channel {
  /** The authenticated peer's hypervisor name. */
  readonly peer: string;
  readonly #socket: tls.TLSSocket;
  readonly #reader: StreamReader;
  #writer: StreamWriter | undefined;
  readonly #chunkBytes: number | undefined;
  #queue: Message[] = [];
  #onMessage: MessageHandler | undefined;
  #onClose: CloseHandler | undefined;
  #ended: { reason: AbortReason; detail: string } | undefined;
  #closing = false;
  bytesSent = 0;

  /** @internal Built by `connectPeer` and `ChannelServer`. */
  constructor(
    socket: tls.TLSSocket,
    peer: string,
    reader: StreamReader,
    writer: StreamWriter | undefined,
    options: ChannelOptions,
  ) {
    this.#socket = socket;
    this.peer = peer;
    this.#reader = reader;
    this.#writer = writer;
    this.#chunkBytes = options.chunkBytes;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("end", () => this.#streamEnded());
    socket.on("error", (e: NodeJS.ErrnoException) => this.#fail(...classify(e)));
    socket.on("close", () =>
      this.#fail(AbortReason.ChannelLost, `connection to ${this.peer} closed`),
    );
  }

  get closed(): boolean {
    return this.#ended !== undefined || this.#closing;
  }

  get bytesReceived(): number {
    return this.#reader.bytes;
  }

  /** Sets the writer from the hello's identity (server side). @internal */
  adoptIdentity(migrationId: Uint8Array, epoch: number): void {
    this.#writer ??= new StreamWriter(migrationId, epoch, this.#chunkBytes);
  }

  /**
   * Starts delivering messages to `onMessage` (those that arrived while no
   * handler was set come first) and the end of the channel to `onClose`.
   */
  start(onMessage: MessageHandler, onClose: CloseHandler): void {
    this.#onMessage = onMessage;
    this.#onClose = onClose;
    while (this.#queue.length > 0 && this.#onMessage === onMessage) onMessage(this.#queue.shift()!);
    if (this.#ended !== undefined && this.#onClose === onClose && !this.#closing) {
      this.#onClose = undefined;
      onClose(this.#ended.reason, this.#ended.detail);
    }
  }

  /** Holds messages (and the end) back until the next `start`. */
  pause(): void {
    this.#onMessage = undefined;
    this.#onClose = undefined;
  }

  /** Sends a message; false when the channel is closed. */
  send(message: Message): boolean {
    if (this.closed || this.#writer === undefined) return false;
    const frames = this.#writer.encode(message);
    for (const f of frames) {
      this.bytesSent += f.length;
      this.#socket.write(f);
    }
    return true;
  }

  /** Closes after what was sent is flushed; no close event is reported for it. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#onMessage = undefined;
    this.#onClose = undefined;
    this.#socket.end();
    // A peer that does not close its side is cut after a grace period.
    setTimeout(() => this.#socket.destroy(), 2000).unref();
  }

  /** Cuts the connection at once without reporting anything (a crash, a detached session). */
  destroy(): void {
    this.#closing = true;
    this.#onMessage = undefined;
    this.#onClose = undefined;
    this.#socket.destroy();
  }

  /** Cuts the connection at once, reporting `reason` to the handler. */
  abort(reason: AbortReason, detail: string): void {
    this.#fail(reason, detail);
  }

  #receive(chunk: Buffer): void {
    if (this.#ended !== undefined || this.#closing) return;
    this.#reader.push(chunk);
    for (;;) {
      const r = this.#reader.next();
      if (r === undefined) return;
      if (!r.ok) {
        this.#fail(AbortReason.BadFrame, `bad stream from ${this.peer}: ${r.error}`);
        return;
      }
      if (this.#onMessage === undefined) this.#queue.push(r.message);
      else this.#onMessage(r.message);
      if (this.#ended !== undefined || this.#closing) return;
    }
  }

  #streamEnded(): void {
    const e = this.#reader.end();
    if (e !== undefined)
      this.#fail(AbortReason.BadFrame, `bad stream from ${this.peer}: ${e.error}`);
    else this.#fail(AbortReason.ChannelLost, `${this.peer} closed the connection`);
  }

  #fail(reason: AbortReason, detail: string): void {
    if (this.#ended !== undefined) return;
    this.#ended = { reason, detail };
    this.#socket.destroy();
    const onClose = this.#onClose;
    this.#onClose = undefined;
    this.#onMessage = undefined;
    if (!this.#closing) onClose?.(reason, detail);
  }
}

function classify(e: NodeJS.ErrnoException): [AbortReason, string] {
  const code = e.code ?? "";
  if (code.startsWith("ERR_SSL") || /bad record mac|decrypt/i.test(e.message)) {
    return [AbortReason.BadFrame, `the channel's integrity check failed (TLS: ${e.message})`];
  }
  return [AbortReason.ChannelLost, `connection failed: ${code || e.message}`];
}

// ---- client -------------------------------------------------------------------------------------

export interface ConnectRequest {
  purpose: HelloPurpose;
  router: string;
  /** 16 bytes. */
  migrationId: Uint8Array;
  epoch: number;
}

/**
 * Connects to `peerName`, authenticates both ways, says hello and waits for
 * the answer. Rejects with a MigrationError: UnknownPeer (not configured),
 * Unreachable, AuthFailed (handshake refused, fingerprint mismatch, unknown
 * to the peer) or Refused (the peer's REFUSE, with its code).
 */
export function connectPeer(
  config: ChannelConfig,
  peerName: string,
  request: ConnectRequest,
  options: ChannelOptions = {},
): Promise<Channel> {
  const peer = config.peers.find((p) => p.name === peerName);
  if (peer === undefined) {
    const known = config.peers.map((p) => p.name).join(", ") || "none";
    return Promise.reject(
      new MigrationError(
        "UnknownPeer",
        `no peer ${peerName} in the configuration (peers: ${known})`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const where = `${peer.name} at ${peer.host}:${peer.port}`;
    let settled = false;
    let channel: Channel | undefined;
    const settle = (error: MigrationError | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) {
        resolve(channel!);
        return;
      }
      socket.destroy();
      reject(error);
    };
    const socket = tls.connect({
      host: peer.host,
      port: peer.port,
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      ciphers: CIPHERS,
      rejectUnauthorized: false, // the fingerprint is checked below
      checkServerIdentity: () => undefined,
      ...clientAuth(config, peer),
    });
    const timer = setTimeout(
      () =>
        settle(
          new MigrationError(
            "Unreachable",
            `${where} did not complete the connection within ${config.handshakeTimeoutMs} ms`,
          ),
        ),
      config.handshakeTimeoutMs,
    );
    socket.once("error", (e: NodeJS.ErrnoException) =>
      settle(connectError(e, config, peer, where)),
    );
    socket.once("close", () =>
      settle(new MigrationError("AuthFailed", `${where} closed the connection during the hello`)),
    );
    socket.once("secureConnect", () => {
      if (peer.auth.kind === "certificate") {
        const got = socket.getPeerCertificate()?.fingerprint256;
        const seen = got ? normalizeFingerprint(got) : "none";
        if (seen !== peer.auth.fingerprint) {
          settle(
            new MigrationError(
              "AuthFailed",
              `${where} presented a certificate with SHA-256 fingerprint ${seen}, not the pinned ${peer.auth.fingerprint}`,
            ),
          );
          return;
        }
      }
      const reader = new StreamReader({
        expect: { migrationId: request.migrationId, epoch: request.epoch },
        ...(options.maxBlobBytes === undefined ? {} : { maxBlobBytes: options.maxBlobBytes }),
      });
      const writer = new StreamWriter(request.migrationId, request.epoch, options.chunkBytes);
      channel = new Channel(socket, peer.name, reader, writer, options);
      const ch = channel;
      ch.start(
        (m) => {
          if (m.type === "hello-ok") {
            // Later messages wait for the caller's `start`.
            ch.pause();
            settle(undefined);
          } else if (m.type === "refuse") {
            const code = m.code === RefusalCode.UnknownPeer ? "AuthFailed" : "Refused";
            settle(
              new MigrationError(code, `${peer.name} refused the connection: ${m.message}`, {
                refusal: m.code,
              }),
            );
          } else {
            settle(
              new MigrationError("AuthFailed", `${peer.name} answered the hello with ${m.type}`),
            );
          }
        },
        (reason, detail) =>
          settle(
            new MigrationError(
              reason === AbortReason.BadFrame ? "AuthFailed" : "Unreachable",
              `${where}: ${detail} during the hello`,
            ),
          ),
      );
      ch.send({
        type: "hello",
        purpose: request.purpose,
        from: config.name,
        to: peer.name,
        router: request.router,
      });
    });
  });
}

function clientAuth(config: ChannelConfig, peer: PeerConfig): tls.ConnectionOptions {
  if (peer.auth.kind === "psk") {
    const key = peer.auth.key;
    return { pskCallback: () => ({ psk: key, identity: config.name }) };
  }
  return { cert: config.certificate!.cert, key: config.certificate!.key };
}

function connectError(
  e: NodeJS.ErrnoException,
  config: ChannelConfig,
  peer: PeerConfig,
  where: string,
): MigrationError {
  const code = e.code ?? "";
  if (code.startsWith("ERR_SSL") || /alert|handshake/i.test(e.message)) {
    const alert = /alert ([a-z _]+)/i.exec(e.message)?.[1]?.trim() ?? e.message;
    const why =
      peer.auth.kind === "psk"
        ? `${peer.name} does not know this hypervisor (${config.name}) or the pre-shared key differs`
        : `${peer.name} refused this hypervisor's certificate`;
    return new MigrationError(
      "AuthFailed",
      `TLS handshake with ${where} failed (${alert}): ${why}`,
    );
  }
  return new MigrationError("Unreachable", `cannot reach ${where}: ${code || e.message}`);
}

// ---- server -------------------------------------------------------------------------------------

export interface HelloInfo {
  peer: string;
  hello: HelloMessage;
  migrationId: Uint8Array;
  epoch: number;
}

/** Answers a hello: a refusal, or a function that takes the accepted channel (and starts it). */
export type HelloHandler = (info: HelloInfo) => Refusal | ((channel: Channel) => void);

export interface ChannelServerOptions extends ChannelOptions {
  onHello: HelloHandler;
  /** Connections refused before a hello was accepted (unknown peers, failed handshakes). */
  onRefused?: (remote: string, reason: string) => void;
}

/** Accepts channels from the configured peers. */
export class ChannelServer {
  readonly config: ChannelConfig;
  readonly #server: tls.Server;
  readonly #options: ChannelServerOptions;
  readonly #identities = new WeakMap<tls.TLSSocket, string>();
  readonly #sockets = new Set<tls.TLSSocket>();
  #closed = false;

  constructor(config: ChannelConfig, options: ChannelServerOptions) {
    this.config = config;
    this.#options = options;
    const pskPeers = new Map(
      config.peers.flatMap((p) => (p.auth.kind === "psk" ? [[p.name, p.auth.key] as const] : [])),
    );
    this.#server = tls.createServer({
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      ciphers: CIPHERS,
      handshakeTimeout: config.handshakeTimeoutMs,
      ...(config.certificate === undefined
        ? {}
        : { cert: config.certificate.cert, key: config.certificate.key }),
      requestCert: config.certificate !== undefined,
      rejectUnauthorized: false, // fingerprints are checked after the handshake
      pskCallback: (socket: tls.TLSSocket, identity: string) => {
        this.#identities.set(socket, identity);
        const key = pskPeers.get(identity);
        if (key === undefined) {
          this.#refused(socket, `unknown PSK identity '${identity}'`);
          return null;
        }
        return key;
      },
    });
    this.#server.on("secureConnection", (socket) => this.#accept(socket));
    this.#server.on("tlsClientError", (e, socket) => {
      const identity = this.#identities.get(socket);
      this.#refused(
        socket,
        `TLS handshake failed${identity === undefined ? "" : ` (PSK identity '${identity}')`}: ${e.message}`,
      );
    });
  }

  /** Starts listening; answers the bound address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.config.listen.port, this.config.listen.host, () => {
        this.#server.off("error", reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | undefined {
    return (this.#server.address() as AddressInfo | null) ?? undefined;
  }

  /** Stops listening and cuts every connection not handed over yet. */
  close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #refused(socket: tls.TLSSocket, reason: string): void {
    this.#options.onRefused?.(`${socket.remoteAddress}:${socket.remotePort}`, reason);
  }

  #accept(socket: tls.TLSSocket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once("close", () => this.#sockets.delete(socket));
    const identity = this.#identify(socket);
    const reader = new StreamReader(
      this.#options.maxBlobBytes === undefined ? {} : { maxBlobBytes: this.#options.maxBlobBytes },
    );
    const channel = new Channel(
      socket,
      identity.peer ?? "(unknown)",
      reader,
      undefined,
      this.#options,
    );
    const timer = setTimeout(
      () => channel.abort(AbortReason.Timeout, "no hello in time"),
      this.config.handshakeTimeoutMs,
    );
    const refuse = (refusal: Refusal): void => {
      this.#refused(socket, refusal.message);
      channel.send({ type: "refuse", code: refusal.code, message: refusal.message });
      channel.close();
    };
    channel.start(
      (m) => {
        clearTimeout(timer);
        channel.adoptIdentity(reader.migrationId!, reader.epoch!);
        if (m.type !== "hello") {
          refuse({ code: RefusalCode.BadRequest, message: `expected a hello, got ${m.type}` });
          return;
        }
        if (identity.peer === undefined) {
          refuse({ code: RefusalCode.UnknownPeer, message: identity.why });
          return;
        }
        if (m.from !== identity.peer) {
          refuse({
            code: RefusalCode.UnknownPeer,
            message: `the hello says it comes from ${m.from}, the credentials are ${identity.peer}'s`,
          });
          return;
        }
        if (m.to !== this.config.name) {
          refuse({
            code: RefusalCode.WrongHost,
            message: `this is ${this.config.name}, not ${m.to}`,
          });
          return;
        }
        const answer = this.#options.onHello({
          peer: identity.peer,
          hello: m,
          migrationId: reader.migrationId!,
          epoch: reader.epoch!,
        });
        if (typeof answer !== "function") {
          refuse(answer);
          return;
        }
        this.#sockets.delete(socket);
        channel.send({ type: "hello-ok" });
        channel.pause();
        answer(channel);
      },
      (_reason, detail) => {
        clearTimeout(timer);
        this.#refused(socket, `connection ended before a hello was accepted: ${detail}`);
      },
    );
  }

  #identify(
    socket: tls.TLSSocket,
  ): { peer: string; why: string } | { peer: undefined; why: string } {
    const identity = this.#identities.get(socket);
    if (identity !== undefined) {
      const p = this.config.peers.find((q) => q.name === identity && q.auth.kind === "psk");
      if (p !== undefined) return { peer: p.name, why: "" };
      return { peer: undefined, why: `unknown PSK identity '${identity}'` };
    }
    const cert = socket.getPeerCertificate();
    const fp = cert?.fingerprint256 ? normalizeFingerprint(cert.fingerprint256) : undefined;
    if (fp === undefined) {
      return { peer: undefined, why: "no client certificate and no pre-shared key" };
    }
    const p = this.config.peers.find(
      (q) => q.auth.kind === "certificate" && q.auth.fingerprint === fp,
    );
    if (p === undefined) {
      return {
        peer: undefined,
        why: `unknown peer: no peer has certificate fingerprint ${fp}`,
      };
    }
    return { peer: p.name, why: "" };
  }
}

/** A fresh random migration id. */
export function newMigrationId(): Uint8Array {
  return new Uint8Array(randomBytes(16));
}
