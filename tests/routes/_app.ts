// The HTTP API over a fresh local transport, for tests that call it through app.request().
import { join } from "node:path";
import type { Hono } from "hono";
import { AuthStore } from "../../engine/auth.ts";
import { Bus } from "../../engine/bus.ts";
import { locateTransport } from "../../engine/paths.ts";
import type { Env } from "../../routes/_context.ts";
import { createApp } from "../../routes/mod.ts";
import { scaffoldTransport } from "../../transports/mod.ts";

/** An app on a new local transport in `dir`, with no user yet; disposing it closes the bus. */
export async function appOnNewTransport(
  dir: string,
): Promise<{ app: Hono<Env>; bus: Bus } & AsyncDisposable> {
  await scaffoldTransport(join(dir, "bus"), { kind: "local" });
  const location = locateTransport(
    { path: join(dir, "bus"), state: join(dir, "state") },
    { HOME: dir },
  );
  const bus = await Bus.open(location, { env: {} });
  const app = createApp({ bus, auth: await AuthStore.open(location.stateDir), version: "0" });
  return { app, bus, [Symbol.asyncDispose]: () => bus[Symbol.asyncDispose]() };
}
