/**
 * The API's documentation: docs/openapi.yaml is what tools/vroomd/openapi.ts
 * generates (regenerate it when they differ), every route the server
 * answers is documented with its method, and request bodies are the zod
 * schemas the routes validate with.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiRoutes } from "../../tools/vroomd/api.ts";
import { openApiDocument, openApiYaml } from "../../tools/vroomd/openapi.ts";

describe("OpenAPI document", () => {
  it("is in docs/openapi.yaml as generated", () => {
    const file = readFileSync(join(import.meta.dirname, "../../docs/openapi.yaml"), "utf8");
    expect(file, "regenerate: npx tsx tools/vroomd/openapi.ts > docs/openapi.yaml").toBe(
      openApiYaml(),
    );
  });

  it("documents every route the server answers, and nothing else", () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((k) => k !== "parameters")
        .map((m) => `${m.toUpperCase()} ${path}`),
    );
    const served = apiRoutes().map((r) => `${r.method} ${r.path}`);
    expect(documented.sort()).toEqual(served.sort());
  });

  it("takes request bodies from the validation schemas", () => {
    const doc = openApiDocument() as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    const body = doc.paths["/v1/switching"].post.requestBody as {
      content: {
        "application/json": { schema: { required: string[]; additionalProperties: boolean } };
      };
    };
    expect(body.content["application/json"].schema.required).toEqual(["from", "to"]);
    expect(body.content["application/json"].schema.additionalProperties).toBe(false);
  });
});
