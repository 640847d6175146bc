import assert from "node:assert/strict";
import { test } from "node:test";
import { freePort, unassignedRange } from "../../helpers/cli";
import { procSysNumbers } from "../../helpers/kernel";

/**
 * freePort() hands out ports the kernel never assigns by itself: a port from the ephemeral range,
 * released, could become any test's client port before the relay or front bound it (EADDRINUSE
 * in a suite's `before`, seen in CI). Where the range leaves no room below it, there is nothing to hold.
 */
test("freePort() hands out ports below the kernel's ephemeral range, never one twice", () => {
  const range = unassignedRange();
  const ephemeral = procSysNumbers("net/ipv4/ip_local_port_range");
  if (!range || !ephemeral) return; // fallback to the kernel's choice: see unassignedRange
  return (async () => {
    const ports = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const port = await freePort();
      assert.ok(port >= range.low && port < ephemeral[0]!, `port ${port} is in the ephemeral range ${ephemeral.join("-")}`);
      assert.ok(!ports.has(port), `port ${port} handed out twice`);
      ports.add(port);
    }
  })();
});
