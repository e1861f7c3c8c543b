// transports/path.ts against node:path.posix: the same answers on random paths made of the
// parts that matter (separators, dots, names), and on the cases people get wrong.
import assert from "node:assert/strict";
import { posix } from "node:path";
import fc from "fast-check";
import {
  basename,
  dirname,
  isAbsolute,
  join,
  normalize,
  relative,
  resolve,
} from "../../transports/path.ts";

const part = fc.constantFrom("", "/", "//", ".", "..", "a", "b", "c.md", "..a", ".x", "a b");
const path = fc.array(part, { maxLength: 8 }).map((parts) => parts.join(""));
const RUNS = { numRuns: 3000 };

Deno.test("normalize, dirname, basename and isAbsolute agree with node:path.posix", () => {
  fc.assert(
    fc.property(path, (p) => {
      assert.equal(normalize(p), posix.normalize(p), `normalize(${JSON.stringify(p)})`);
      assert.equal(dirname(p), posix.dirname(p), `dirname(${JSON.stringify(p)})`);
      assert.equal(basename(p), posix.basename(p), `basename(${JSON.stringify(p)})`);
      assert.equal(isAbsolute(p), posix.isAbsolute(p));
    }),
    RUNS,
  );
});

Deno.test("join, resolve and relative agree with node:path.posix", () => {
  fc.assert(
    fc.property(fc.array(path, { maxLength: 4 }), path, path, (parts, from, to) => {
      assert.equal(join(...parts), posix.join(...parts), `join(${JSON.stringify(parts)})`);
      assert.equal(resolve(...parts), posix.resolve(...parts), `resolve(${JSON.stringify(parts)})`);
      assert.equal(relative(from, to), posix.relative(from, to), `relative(${from}, ${to})`);
    }),
    RUNS,
  );
});

Deno.test("join and dirname on the paths crosstalk builds", () => {
  assert.equal(
    join("/var/lib/crosstalk", "team", "transport"),
    "/var/lib/crosstalk/team/transport",
  );
  assert.equal(join("data/channels/", "/x/", "../y.md"), "data/channels/y.md");
  assert.equal(dirname("/a/b/c.md"), "/a/b");
  assert.equal(relative("/a/b", "/a/c/d"), "../c/d");
});
