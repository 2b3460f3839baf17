/**
 * The migration channel's configuration: this hypervisor's name, where it
 * listens, its certificate (when some peer authenticates by certificate),
 * and its peers, each with one way to authenticate (docs/MIGRATION.md,
 * "Security"):
 *
 * - `psk`: a pre-shared key, at least 32 bytes as hex, one per pair of
 *   hypervisors; TLS 1.3 in PSK mode with (EC)DHE (RFC 8446, section 2.2),
 *   the PSK identity being the connecting hypervisor's name;
 * - `fingerprint`: the SHA-256 fingerprint of the peer's certificate
 *   (usually self-signed), pinned: TLS 1.3 with mutual certificate
 *   authentication, each side checking the other's fingerprint.
 *
 * A hypervisor talks only to the peers listed here, and only to a peer that
 * proves its identity the configured way. `parseChannelConfig` never throws:
 * it answers the configuration or every problem found, each naming its field.
 */
import { X509Certificate } from "node:crypto";
import { z } from "zod";

export interface PeerConfig {
  name: string;
  host: string;
  port: number;
  auth: { kind: "psk"; key: Buffer } | { kind: "certificate"; fingerprint: string };
}

export interface ChannelConfig {
  /** This hypervisor's name: its PSK identity and what peers expect in the hello. */
  name: string;
  listen: { host: string; port: number };
  /** PEM certificate and key, needed when any peer uses `fingerprint`. */
  certificate?: { cert: string; key: string; fingerprint: string };
  peers: PeerConfig[];
  /** Time allowed for TCP connect, TLS handshake and hello, ms (default 5000). */
  handshakeTimeoutMs: number;
}

const name = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    "a name of letters, digits, '.', '_', '-' (at most 63)",
  );

const FINGERPRINT = /^([0-9a-f]{2}:?){31}[0-9a-f]{2}$/i;

const peerSchema = z
  .strictObject({
    name,
    host: z.string().min(1).max(255),
    port: z.number().int().min(1).max(65535),
    psk: z
      .string()
      .regex(/^([0-9a-f]{2})+$/i, "hex digits")
      .min(64, "at least 32 bytes (64 hex digits)")
      .max(1024)
      .optional(),
    fingerprint: z
      .string()
      .regex(FINGERPRINT, "a SHA-256 fingerprint (32 bytes as hex, ':' optional)")
      .optional(),
  })
  .refine((p) => (p.psk === undefined) !== (p.fingerprint === undefined), {
    message: "give exactly one of psk and fingerprint",
  });

const configSchema = z.strictObject({
  name,
  listen: z.strictObject({
    host: z.string().min(1).default("0.0.0.0"),
    port: z.number().int().min(0).max(65535),
  }),
  certificate: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  peers: z.array(peerSchema).max(1024),
  handshakeTimeoutMs: z.number().int().min(1).max(600_000).default(5000),
});

export type ChannelConfigInput = z.input<typeof configSchema>;

/** "AB:CD:..." upper case with colons, as node:tls prints `fingerprint256`. */
export function normalizeFingerprint(text: string): string {
  const hex = text.replace(/:/g, "").toUpperCase();
  return hex.match(/.{2}/g)?.join(":") ?? "";
}

export function parseChannelConfig(
  input: unknown,
): { ok: true; config: ChannelConfig } | { ok: false; errors: string[] } {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => `${i.path.join(".") || "(config)"}: ${i.message}`),
    };
  }
  const raw = parsed.data;
  const errors: string[] = [];
  let certificate: ChannelConfig["certificate"];
  if (raw.certificate !== undefined) {
    try {
      const x509 = new X509Certificate(raw.certificate.cert);
      certificate = { ...raw.certificate, fingerprint: normalizeFingerprint(x509.fingerprint256) };
    } catch (e) {
      errors.push(`certificate.cert: not a PEM certificate: ${(e as Error).message}`);
    }
  }
  const seen = new Set<string>();
  const peers: PeerConfig[] = [];
  raw.peers.forEach((p, i) => {
    if (p.name === raw.name)
      errors.push(`peers.${i}.name: '${p.name}' is this hypervisor's own name`);
    if (seen.has(p.name)) errors.push(`peers.${i}.name: duplicate peer '${p.name}'`);
    seen.add(p.name);
    if (p.fingerprint !== undefined && raw.certificate === undefined) {
      errors.push(
        `peers.${i}.fingerprint: peer '${p.name}' authenticates by certificate, so this hypervisor needs one (certificate.cert, certificate.key)`,
      );
    }
    peers.push({
      name: p.name,
      host: p.host,
      port: p.port,
      auth:
        p.psk !== undefined
          ? { kind: "psk", key: Buffer.from(p.psk, "hex") }
          : { kind: "certificate", fingerprint: normalizeFingerprint(p.fingerprint!) },
    });
  });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    config: {
      name: raw.name,
      listen: raw.listen,
      ...(certificate === undefined ? {} : { certificate }),
      peers,
      handshakeTimeoutMs: raw.handshakeTimeoutMs,
    },
  };
}
