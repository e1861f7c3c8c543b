import assert from "node:assert/strict";
import { join } from "node:path";
import { AuthStore } from "../../engine/auth.ts";
import { Bus } from "../../engine/bus.ts";
import { locateTransport } from "../../engine/paths.ts";
import { createApp } from "../../routes/mod.ts";
import { OPENAPI } from "../../routes/openapi.ts";
import { scaffoldTransport } from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("/openapi.json describes exactly the routes the app serves", async () => {
  await using dir = await tempDir();
  await scaffoldTransport(join(dir.path, "bus"), { kind: "local" });
  const location = locateTransport(
    { path: join(dir.path, "bus"), state: join(dir.path, "state") },
    { HOME: dir.path },
  );
  await using bus = await Bus.open(location, { env: {} });
  const app = createApp({ bus, auth: await AuthStore.open(location.stateDir), version: "0" });
  const served = new Set(
    app.routes
      .filter((r) => r.method !== "ALL")
      .map((r) =>
        `${r.method} ${r.path.replace(/:(\w+)(\{[^/]*\})?/g, "{$1}").replace(/\/$/, "") || "/"}`
      ),
  );
  const described = new Set(
    Object.entries(OPENAPI.paths).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`)
    ),
  );
  assert.deepEqual(
    [...served].filter((r) => !described.has(r)).sort(),
    [],
    "served but not described",
  );
  assert.deepEqual(
    [...described].filter((r) => !served.has(r)).sort(),
    [],
    "described but not served",
  );
  const response = await app.request("/openapi.json");
  assert.equal(response.status, 200);
  assert.equal((await response.json()).openapi, "3.1.0");
});
