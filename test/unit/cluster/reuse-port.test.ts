import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { reusePortSupported } from "../../../src/cluster/workers";

describe("reusePortSupported: the Node lines whose net servers take reusePort (SO_REUSEPORT)", { timeout: 10_000 }, () => {
  it("is false before 22.12 and on 23.0, true from 22.12 and 23.1 on", () => {
    for (const v of ["20.20.2", "22.11.0", "23.0.0", "18.20.0"]) assert.equal(reusePortSupported(v), false, v);
    for (const v of ["22.12.0", "22.23.5", "23.1.0", "24.0.0", "26.12.1"]) assert.equal(reusePortSupported(v), true, v);
  });
});
