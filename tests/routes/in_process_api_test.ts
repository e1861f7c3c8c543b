// InProcessApi: the MCP tools' calls to the engine's own API, without a socket.
import assert from "node:assert/strict";
import { join } from "node:path";
import { AuthStore } from "../../engine/auth.ts";
import { Bus } from "../../engine/bus.ts";
import { locateTransport } from "../../engine/paths.ts";
import { createApp } from "../../routes/mod.ts";
import { InProcessApi } from "../../routes/mcp_session.ts";
import { scaffoldTransport } from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("InProcessApi states each body's length in bytes: the app's body limit refuses one byte over it and takes a multi-byte body at the limit intact", async () => {
  await using dir = await tempDir();
  await scaffoldTransport(join(dir.path, "bus"), { kind: "local" });
  const location = locateTransport(
    { path: join(dir.path, "bus"), state: join(dir.path, "state") },
    { HOME: dir.path },
  );
  await using bus = await Bus.open(location, { env: {} });
  const auth = await AuthStore.open(location.stateDir);
  await auth.createUser("ann", "correct horse battery staple", true);
  const { token } = await auth.mintToken("ann", "test");
  const seen: (string | null)[] = [];
  const body = { to: "bob", body: `${"héllo ✓ ".repeat(20)}end` };
  const limit = new TextEncoder().encode(JSON.stringify(body)).length;
  const app = createApp({ bus, auth, version: "0", maxBodyBytes: limit });
  const api = new InProcessApi(
    (request) => {
      seen.push(request.headers.get("content-length"));
      return app.fetch(request);
    },
    token,
    new AbortController().signal,
  );

  const sent = await api.call<{ id: string; channel: string }>("POST", "/api/messages", body);
  assert.equal(seen.at(-1), String(limit), "the length in bytes, not in characters");
  assert.equal((await bus.transport.readMessage(sent.channel, sent.id)).body, body.body);

  await assert.rejects(
    api.call("POST", "/api/messages", { ...body, body: `${body.body}x` }),
    (error: Error & { code?: string }) => error.code === "ERR_BODY_TOO_LARGE",
  );
  assert.equal(
    (await bus.listMessages("general")).messages.length,
    1,
    "nothing written for the refused one",
  );
});
