/**
 * Channel configurations for tests: pairs of hypervisors on 127.0.0.1 that
 * know each other by a pre-shared key or by pinned certificates, the
 * certificates made at test time with `openssl req -x509` (node:crypto
 * cannot self-sign), and a TCP relay between two hypervisors that a test
 * can cut or make flip a byte.
 */
import { execFileSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ChannelConfig, parseChannelConfig } from "../../migration/config.ts";

export interface Certificate {
  cert: string;
  key: string;
  fingerprint: string;
}

export function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A self-signed P-256 certificate for `name`, valid one day. */
export function makeCertificate(name: string): Certificate {
  const dir = mkdtempSync(join(tmpdir(), "vroom-cert-"));
  try {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        key,
        "-out",
        cert,
      ],
      { stdio: "ignore" },
    );
    const pem = readFileSync(cert, "utf8");
    return {
      cert: pem,
      key: readFileSync(key, "utf8"),
      fingerprint: new X509Certificate(pem).fingerprint256,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type Auth = { psk: string } | { fingerprint: string };

export interface PeerSpec {
  name: string;
  port: number;
  auth: Auth;
  host?: string;
}

export function config(
  name: string,
  peers: PeerSpec[],
  options: { certificate?: Certificate; handshakeTimeoutMs?: number; port?: number } = {},
): ChannelConfig {
  const parsed = parseChannelConfig({
    name,
    listen: { host: "127.0.0.1", port: options.port ?? 0 },
    ...(options.certificate
      ? { certificate: { cert: options.certificate.cert, key: options.certificate.key } }
      : {}),
    peers: peers.map((p) => ({
      name: p.name,
      host: p.host ?? "127.0.0.1",
      port: p.port,
      ...p.auth,
    })),
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 3000,
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  return parsed.config;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export function newKey(): string {
  return randomBytes(32).toString("hex");
}

/** A TCP relay: listens on 127.0.0.1 and forwards to `port`; can cut every connection or corrupt a byte. */
export class Relay {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  /** Flip one byte of the next chunk going client -> server after `afterBytes` bytes. */
  corruptAfter: number | undefined;
  private forwarded = 0;
  /** Refuse new connections. */
  blocked = false;
  /** Drop everything in both directions, keeping the connections open (a silent peer). */
  silent = false;
  target: number;

  private constructor(target: number) {
    this.target = target;
    this.server = net.createServer((client) => {
      if (this.blocked) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target, "127.0.0.1");
      this.sockets.add(client);
      this.sockets.add(upstream);
      client.on("data", (d: Buffer) => {
        if (this.silent) return;
        this.forwarded += d.length;
        if (this.corruptAfter !== undefined && this.forwarded > this.corruptAfter) {
          this.corruptAfter = undefined;
          const copy = Buffer.from(d);
          copy[copy.length >> 1] ^= 0x55;
          upstream.write(copy);
          return;
        }
        upstream.write(d);
      });
      upstream.on("data", (d: Buffer) => {
        if (!this.silent) client.write(d);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on("close", end);
      upstream.on("close", end);
      client.on("error", end);
      upstream.on("error", end);
    });
  }

  static async start(target: number): Promise<Relay> {
    const r = new Relay(target);
    await new Promise<void>((resolve) => r.server.listen(0, "127.0.0.1", resolve));
    return r;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Cuts every connection going through. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
