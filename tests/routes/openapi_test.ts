import assert from "node:assert/strict";
import { OPENAPI } from "../../routes/openapi.ts";
import { tempDir } from "../_helpers.ts";
import { appOnNewTransport } from "./_app.ts";

Deno.test("/openapi.json describes exactly the routes the app serves, at the address it was asked at", async () => {
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
  const response = await app.request("http://127.0.0.1:24611/openapi.json");
  assert.equal(response.status, 200);
  const document = await response.json();
  assert.equal(document.openapi, "3.1.0");
  assert.deepEqual(
    document.servers,
    [{ url: "http://127.0.0.1:24611" }],
    "the engine's own address",
  );
});
