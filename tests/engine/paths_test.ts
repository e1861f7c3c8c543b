import assert from "node:assert/strict";
import { locateTransport } from "../../engine/paths.ts";
import { CrosstalkError } from "../../schema/errors.ts";

const env = { HOME: "/home/u", XDG_DATA_HOME: "/data", XDG_STATE_HOME: "/state" };

Deno.test("locateTransport puts the default and named transports in XDG data with state beside them", () => {
  assert.deepEqual(locateTransport({}, env), {
    root: "/data/crosstalk/crosstalk/transport",
    name: "crosstalk",
    stateDir: "/data/crosstalk/crosstalk/crosstalk-state",
    isDefault: true,
  });
  const named = locateTransport({ containername: "team" }, env);
  assert.equal(named.root, "/data/crosstalk/team/transport");
  assert.equal(named.stateDir, "/data/crosstalk/team/crosstalk-state");
  assert.equal(named.isDefault, false);
});

Deno.test("locateTransport keeps the state of a --path transport outside it", () => {
  const a = locateTransport({ path: "/mnt/share/bus" }, env);
  assert.equal(a.root, "/mnt/share/bus");
  assert.ok(a.stateDir.startsWith("/state/crosstalk/by-path/bus-"));
  assert.notEqual(locateTransport({ path: "/other/bus" }, env).stateDir, a.stateDir);
  const layout = locateTransport({ path: "/srv/x/transport" }, env);
  assert.equal(layout.stateDir, "/srv/x/crosstalk-state");
});

Deno.test("locateTransport honours --state over CROSSTALK_STATE_DIR over the default", () => {
  assert.equal(locateTransport({}, { ...env, CROSSTALK_STATE_DIR: "/s1" }).stateDir, "/s1");
  assert.equal(
    locateTransport({ state: "/s2" }, { ...env, CROSSTALK_STATE_DIR: "/s1" }).stateDir,
    "/s2",
  );
});

Deno.test("locateTransport rejects both selectors at once and bad container names", () => {
  for (
    const selector of [{ path: "/a", containername: "b" }, { containername: "../etc" }, {
      containername: "a/b",
    }]
  ) {
    assert.throws(
      () => locateTransport(selector, env),
      (e: unknown) => e instanceof CrosstalkError && e.code === "ERR_USAGE",
    );
  }
});
