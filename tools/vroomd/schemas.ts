/**
 * The management API's request bodies, as zod schemas: the routes
 * (./api.ts) check every body against them before touching anything, and
 * the OpenAPI document (./openapi.ts) is generated from the same schemas,
 * so the two cannot drift apart.
 */
import { z } from "zod";

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
