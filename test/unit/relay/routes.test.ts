import { it } from "node:test";
import * as assert from "node:assert/strict";
import { RouteTable } from "../../../src/relay/routes";

it("routes are symmetric; a wildcard stands for exactly one leftmost label; nobody reaches itself", () => {
  const t = new RouteTable([["0.user1", "1.user1"], ["aggregator.flock", "*.flock"], ["*.a", "*.b"]]);
  assert.equal(t.find("0.user1", "1.user1")?.name, "0.user1 <-> 1.user1");
  assert.equal(t.find("1.user1", "0.user1")?.name, "0.user1 <-> 1.user1");
  assert.equal(t.find("0.user1", "2.user1"), undefined);
  assert.ok(t.find("aggregator.flock", "x.flock"));
  assert.ok(t.find("x.flock", "aggregator.flock"));
  assert.equal(t.find("x.flock", "y.flock"), undefined, "the wildcard end does not match both ends");
  assert.equal(t.find("aggregator.flock", "x.y.flock"), undefined, "one label only");
  assert.equal(t.find("aggregator.flock", "flock"), undefined);
  assert.equal(t.find("aggregator.flock", "xflock"), undefined, "suffix must start at a dot");
  assert.ok(t.find("p.a", "q.b"));
  assert.equal(t.find("aggregator.flock", "aggregator.flock"), undefined);
});

it("one-label identities (as Flock's fr-adm names parties) route like any other; `*` matches any one label, nothing dotted", () => {
  const t = new RouteTable([["0", "1"], ["*", "hub"]]);
  assert.equal(t.find("1", "0")?.name, "0 <-> 1");
  assert.equal(t.find("0", "2"), undefined);
  assert.ok(t.find("7", "hub"));
  assert.equal(t.find("7.user1", "hub"), undefined, "* is one label");
  const any = new RouteTable([["*", "*"]]);
  assert.ok(any.find("0", "1"), "the Flock relay's anyone-may-pair, written out");
  assert.equal(any.find("0", "0"), undefined);
  assert.equal(any.find("0.user1", "1.user1"), undefined);
});
