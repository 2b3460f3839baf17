/**
 * vroomd's logs: JSON lines by default (one object per line, ISO time, the
 * hypervisor's name on every line), readable lines with `pretty`, and the
 * level filter.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../tools/vroomd/logging.ts";

function sink(): { stream: Writable; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe("vroomd logging", () => {
  it("writes one JSON object per line, filtered by level", () => {
    const out = sink();
    const log = createLogger({
      level: "info",
      format: "json",
      destination: out.stream,
      base: { hypervisor: "pr1" },
    });
    log.debug("hidden");
    log.info({ router: "vr1" }, "router created");
    log.error("refused");
    const lines = out
      .text()
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 30,
      hypervisor: "pr1",
      router: "vr1",
      msg: "router created",
    });
    expect(lines[0].time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(lines[1]).toMatchObject({ level: 50, msg: "refused" });
  });

  it("writes readable lines in pretty format", () => {
    const out = sink();
    const log = createLogger({
      level: "debug",
      format: "pretty",
      destination: out.stream,
      base: { hypervisor: "pr1" },
    });
    log.info({ router: "vr1" }, "router created");
    const text = out.text();
    expect(text).toMatch(/INFO.*: router created/);
    expect(text).toMatch(/router: "vr1"/);
    expect(() => JSON.parse(text)).toThrow();
  });
});
