import { it } from "node:test";
import * as assert from "node:assert/strict";
import { addressKey } from "../../../src/config/address";

it("per-address keys: IPv4 as is (also IPv4-mapped), IPv6 by its /64", () => {
  const cases: [string | undefined, string][] = [
    ["192.0.2.1", "192.0.2.1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["2001:0db8:0000:0000:ffff:1:2:3", "2001:db8:0:0::/64"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1::", "2001:db8:1:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["64:ff9b:1:2::192.0.2.1", "64:ff9b:1:2::/64"],
    [undefined, "?"],
  ];
  for (const [input, key] of cases) assert.equal(addressKey(input), key, String(input));
});
