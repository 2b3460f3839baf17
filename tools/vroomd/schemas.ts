/**
 * The management API's request bodies, as zod schemas: the routes
 * (./api.ts) check every body against them before touching anything, and
 * the OpenAPI document (./openapi.ts) is generated from the same schemas,
 * so the two cannot drift apart.
 */
import { z } from "zod";
import { MigrationMode } from "../../migration/source.ts";

export const NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$";
const name = z
  .string()
  .regex(new RegExp(NAME_PATTERN), "names are 1-32 letters, digits, '_', '.', '-'");

/** PUT /v1/routers/{name}/interfaces/{iface}/link */
export const bindBodySchema = z.strictObject({
  link: name.describe("The substrate link to bind the interface to"),
  rebind: z
    .boolean()
    .default(false)
    .describe("Move an interface that is already bound (else it must be unbound)"),
});

/** POST /v1/switching */
export const switchBodySchema = z.strictObject({
  from: name.describe("Link whose received traffic is switched"),
  to: name.describe("Link it is sent out of, unchanged"),
  replace: z
    .boolean()
    .default(false)
    .describe("Retarget a rule already leaving `from` (else there must be none)"),
});

/** POST /v1/routers: a router section, checked by the router's own schema afterwards. */
export const routerBodySchema = z
  .record(z.string(), z.unknown())
  .describe(
    "A router section as in the configuration file: name, interfaces (each may name its `link`), staticRoutes, and any section the router's schema knows",
  );

/** POST /v1/reload: no body, or an empty object. */
export const reloadBodySchema = z.strictObject({}).optional();

const familyName = z.enum(["ipv4", "ipv6"]);

/** POST /v1/routers/{name}/bgp/neighbors/{address}/refresh: no body means every family. */
export const bgpRefreshBodySchema = z.strictObject({
  family: familyName
    .optional()
    .describe("The address family to refresh; default: every family the session carries"),
});

/** POST /v1/routers/{name}/bgp/neighbors/{address}/enable: no body, or an empty object. */
export const bgpEnableBodySchema = z.strictObject({});

/** RFC 9003: a shutdown communication is at most 255 octets of UTF-8. */
export const SHUTDOWN_MESSAGE_MAX = 255;

/** POST /v1/routers/{name}/bgp/neighbors/{address}/disable */
export const bgpDisableBodySchema = z.strictObject({
  message: z
    .string()
    .refine(
      (m) => Buffer.byteLength(m, "utf8") <= SHUTDOWN_MESSAGE_MAX,
      `at most ${SHUTDOWN_MESSAGE_MAX} octets of UTF-8 (RFC 9003)`,
    )
    .optional()
    .describe(
      "Shutdown communication sent with the Cease NOTIFICATION (RFC 9003), at most 255 octets",
    ),
});

/** POST /v1/routers/{name}/migrate */
export const migrateBodySchema = z.strictObject({
  to: name.describe("The peer hypervisor to move the router to (one of migration.peers)"),
  mode: z
    .enum([MigrationMode.Live, MigrationMode.StopAndCopy])
    .default(MigrationMode.Live)
    .describe(
      "live (control plane and FIB moved separately, forwarding never stops) or stop-and-copy (the whole router halted while it is copied: the naive scheme, for comparison)",
    ),
});
