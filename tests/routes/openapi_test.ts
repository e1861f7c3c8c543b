import assert from "node:assert/strict";
import { OPENAPI } from "../../routes/openapi.ts";
import { tempDir } from "../_helpers.ts";
import { appOnNewTransport } from "./_app.ts";

Deno.test("/openapi.json describes exactly the routes the app serves", async () => {
  await using dir = await tempDir();
  await using api = await appOnNewTransport(dir.path);
  const { app } = api;
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
