import assert from "node:assert/strict";
import { CrosstalkError } from "../../schema/errors.ts";
import {
  checkWebhookUrl,
  postWebhook,
  verifyWebhookSignature,
  type WebhookResult,
} from "../../transports/webhook.ts";

const secret = "s3cret-s3cret-s3cret-0123456789";

/** What a loopback receiver saw of one request. */
interface Received {
  method: string;
  url: string;
  headers: Headers;
  body: string;
}

/** A receiver on 127.0.0.1 that records each request and answers with `respond`. */
function receiver(
  respond: (request: Received) => Response | Promise<Response> = () => new Response("ok"),
) {
  const received: Received[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const seen = {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: await request.text(),
      };
      received.push(seen);
      return await respond(seen);
    },
  );
  return {
    received,
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** A header as `t=…,v1=…` signed for `body` at unix second `t`. */
async function sign(key: string, t: number, body: string): Promise<string> {
  const encoder = new TextEncoder();
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(`${t}.${body}`)),
  );
  return `t=${t},v1=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function assertFailed(
  result: WebhookResult,
): asserts result is Extract<WebhookResult, { ok: false }> {
  assert.equal(result.ok, false, `expected a failure, got ${JSON.stringify(result)}`);
}

Deno.test("postWebhook delivers a payload a loopback receiver verifies, with the event and a delivery id", async () => {
  await using hook = receiver();
  const payload = { channel: "c1", message: "2026/11/22/031522123Z-9f3a01bc.md", note: "héllo ✓" };
  const result = await postWebhook(`${hook.url}?token=abc`, "wake", payload, { secret });
  assert.deepEqual(result, { ok: true, status: 200 });
  assert.equal(hook.received.length, 1);
  const [seen] = hook.received;
  assert.ok(seen);
  assert.equal(seen.method, "POST");
  assert.equal(new URL(seen.url).searchParams.get("token"), "abc");
  assert.equal(seen.headers.get("content-type"), "application/json");
  assert.equal(seen.headers.get("x-crosstalk-event"), "wake");
  assert.match(
    seen.headers.get("x-crosstalk-delivery") ?? "",
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  assert.deepEqual(JSON.parse(seen.body), payload);
  const header = seen.headers.get("x-crosstalk-signature");
  assert.match(header ?? "", /^t=\d+,v1=[0-9a-f]{64}$/);
  assert.equal(await verifyWebhookSignature(secret, header, seen.body), true);
  assert.ok(!seen.url.includes(secret) && !header!.includes(secret), "the secret never travels");
});

Deno.test("postWebhook gives every delivery a new delivery id", async () => {
  await using hook = receiver();
  await postWebhook(hook.url, "wake", {}, { secret });
  await postWebhook(hook.url, "wake", {}, { secret });
  const ids = hook.received.map((r) => r.headers.get("x-crosstalk-delivery"));
  assert.equal(ids.length, 2);
  assert.notEqual(ids[0], ids[1]);
});

Deno.test("postWebhook signs the timestamp of its clock, in unix seconds", async () => {
  await using hook = receiver();
  const at = Date.parse("2026-11-22T03:15:22.999Z");
  await postWebhook(hook.url, "wake", { n: 1 }, { secret, now: () => at });
  const [seen] = hook.received;
  assert.ok(seen);
  const header = seen.headers.get("x-crosstalk-signature");
  assert.equal(header, await sign(secret, Math.floor(at / 1000), seen.body));
  assert.equal(await verifyWebhookSignature(secret, header, seen.body, { now: () => at }), true);
});

Deno.test("verifyWebhookSignature rejects a tampered body", async () => {
  const body = JSON.stringify({ to: "reviewer" });
  const t = Math.floor(Date.now() / 1000);
  const header = await sign(secret, t, body);
  assert.equal(await verifyWebhookSignature(secret, header, body), true);
  assert.equal(
    await verifyWebhookSignature(secret, header, JSON.stringify({ to: "attacker" })),
    false,
  );
  assert.equal(await verifyWebhookSignature(secret, header, `${body} `), false);
});

Deno.test("verifyWebhookSignature rejects a signature made with another secret", async () => {
  const body = "{}";
  const header = await sign("another-secret-of-enough-length", Math.floor(Date.now() / 1000), body);
  assert.equal(await verifyWebhookSignature(secret, header, body), false);
});

Deno.test("verifyWebhookSignature rejects a timestamp outside the tolerance, either way", async () => {
  const body = "{}";
  const now = Date.parse("2026-11-22T12:00:00.000Z");
  const t = now / 1000;
  const clock = { now: () => now };
  assert.equal(
    await verifyWebhookSignature(secret, await sign(secret, t - 300, body), body, clock),
    true,
  );
  assert.equal(
    await verifyWebhookSignature(secret, await sign(secret, t - 301, body), body, clock),
    false,
  );
  assert.equal(
    await verifyWebhookSignature(secret, await sign(secret, t + 301, body), body, clock),
    false,
  );
  const stale = await sign(secret, t - 3600, body);
  assert.equal(await verifyWebhookSignature(secret, stale, body, clock), false);
  assert.equal(
    await verifyWebhookSignature(secret, stale, body, { ...clock, toleranceSeconds: 3600 }),
    true,
  );
});

Deno.test("verifyWebhookSignature rejects a signed timestamp swapped for a fresh one", async () => {
  const body = "{}";
  const now = Date.parse("2026-11-22T12:00:00.000Z");
  const old = await sign(secret, now / 1000 - 3600, body);
  const replayed = old.replace(/^t=\d+/, `t=${now / 1000}`);
  assert.equal(await verifyWebhookSignature(secret, replayed, body, { now: () => now }), false);
});

Deno.test("verifyWebhookSignature rejects a missing or garbled header without throwing", async () => {
  const body = "{}";
  const t = Math.floor(Date.now() / 1000);
  const good = await sign(secret, t, body);
  const v1 = good.slice(good.indexOf("v1="));
  const garbage = [
    null,
    "",
    "garbage",
    "t=,v1=",
    `t=${t}`,
    v1,
    `t=abc,${v1}`,
    `t=${t},v1=zz${v1.slice(5)}`,
    `t=${t},v1=${v1.slice(3, 40)}`,
    `t=${t},t=${t},${v1}`,
    `t=${t};${v1}`,
    `t=-${t},${v1}`,
    `t=${t}.5,${v1}`,
    `t=1e9,${v1}`,
    `${good},` + "x".repeat(5000),
    "\u0000\uffff=,==,",
  ];
  for (const header of garbage) {
    assert.equal(await verifyWebhookSignature(secret, header, body), false, `accepted ${header}`);
  }
  assert.equal(await verifyWebhookSignature("", good, body), false, "an empty secret");
  assert.equal(await verifyWebhookSignature(secret, good, body), true, "the good one still passes");
});

Deno.test("verifyWebhookSignature accepts any matching v1 and ignores unknown keys", async () => {
  const body = "{}";
  const t = Math.floor(Date.now() / 1000);
  const good = await sign(secret, t, body);
  const other = await sign("the-previous-secret-being-rotated", t, body);
  const v1 = (h: string) => h.slice(h.indexOf("v1="));
  assert.equal(await verifyWebhookSignature(secret, `t=${t},${v1(other)},${v1(good)}`, body), true);
  assert.equal(await verifyWebhookSignature(secret, `t=${t},v2=abc,${v1(good)}`, body), true);
  assert.equal(await verifyWebhookSignature(secret, `t=${t},${v1(other)}`, body), false);
});

Deno.test("postWebhook reports a 500 as a failure with its status", async () => {
  await using hook = receiver(() => new Response("boom", { status: 500 }));
  const result = await postWebhook(hook.url, "wake", {}, { secret });
  assertFailed(result);
  assert.equal(result.status, 500);
  assert.match(result.detail, /500/);
  assert.ok(result.detail.includes(hook.url), result.detail);
});

Deno.test("postWebhook reports a 302 as a failure and does not follow it", async () => {
  await using elsewhere = receiver();
  await using hook = receiver(() =>
    new Response(null, { status: 302, headers: { location: elsewhere.url } })
  );
  const result = await postWebhook(hook.url, "wake", {}, { secret });
  assertFailed(result);
  assert.equal(result.status, 302);
  assert.match(result.detail, /redirect/);
  assert.equal(hook.received.length, 1);
  assert.equal(elsewhere.received.length, 0, "the signed request went nowhere else");
});

Deno.test("postWebhook reports a receiver that never answers as a timeout within timeoutMs", async () => {
  const release = Promise.withResolvers<void>();
  await using hook = receiver(async () => {
    await release.promise;
    return new Response("too late");
  });
  const started = performance.now();
  const result = await postWebhook(hook.url, "wake", {}, { secret, timeoutMs: 200 });
  const elapsed = performance.now() - started;
  release.resolve();
  assertFailed(result);
  assert.equal(result.status, undefined);
  assert.match(result.detail, /timed out after 200 ms/);
  assert.ok(elapsed >= 150 && elapsed < 2000, `took ${elapsed} ms`);
});

Deno.test("postWebhook stops when its signal aborts", async () => {
  const arrived = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  await using hook = receiver(async () => {
    arrived.resolve();
    await release.promise;
    return new Response("too late");
  });
  const controller = new AbortController();
  const pending = postWebhook(hook.url, "wake", {}, { secret, signal: controller.signal });
  await arrived.promise;
  controller.abort();
  const result = await pending;
  release.resolve();
  assertFailed(result);
  assert.match(result.detail, /aborted/);
});

Deno.test("postWebhook reports an unreachable port as a failure", async () => {
  // A port that was just free: listen, note it, close, then post to it.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const result = await postWebhook(`http://127.0.0.1:${port}/hook`, "wake", {}, { secret });
  assertFailed(result);
  assert.equal(result.status, undefined);
  assert.ok(result.detail.includes(`"http://127.0.0.1:${port}/hook"`), result.detail);
  assert.match(result.detail, /refused|connect/i, "names the cause, not just that fetch failed");
});

Deno.test("postWebhook never puts the secret or the query string in a failure detail", async () => {
  // A secret that is also in the URL's query string, where a careless message would echo it.
  const leaky = "abcdefghijklmnop-0123456789";
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const release = Promise.withResolvers<void>();
  await using failing = receiver(() => new Response(leaky, { status: 500, statusText: "Nope" }));
  await using redirecting = receiver(() =>
    new Response(null, { status: 302, headers: { location: `http://x/?k=${leaky}` } })
  );
  await using silent = receiver(async () => {
    await release.promise;
    return new Response();
  });
  const query = `?token=${leaky}#${leaky}`;
  const results = [
    await postWebhook(`${failing.url}${query}`, "wake", { leaky }, { secret: leaky }),
    await postWebhook(`${redirecting.url}${query}`, "wake", {}, { secret: leaky }),
    await postWebhook(`${silent.url}${query}`, "wake", {}, { secret: leaky, timeoutMs: 100 }),
    await postWebhook(`http://127.0.0.1:${closedPort}/${query}`, "wake", {}, { secret: leaky }),
    await postWebhook(`http://user:${leaky}@127.0.0.1:1/`, "wake", {}, { secret: leaky }),
    await postWebhook(`ftp://127.0.0.1/${query}`, "wake", {}, { secret: leaky }),
  ];
  release.resolve();
  for (const result of results) {
    assertFailed(result);
    assert.ok(result.detail.length > 0);
    assert.ok(!result.detail.includes(leaky), result.detail);
    assert.ok(!result.detail.includes("token="), result.detail);
  }
});

Deno.test("postWebhook refuses a secret shorter than 16 characters before sending anything", async () => {
  await using hook = receiver();
  await assert.rejects(
    () => postWebhook(hook.url, "wake", {}, { secret: "fifteen-chars!!" }),
    (error: unknown) => error instanceof RangeError && !error.message.includes("fifteen"),
  );
  assert.equal(hook.received.length, 0);
});

Deno.test("checkWebhookUrl accepts http and https URLs with a host", () => {
  assert.equal(
    checkWebhookUrl("https://hooks.example.com/crosstalk?x=1").host,
    "hooks.example.com",
  );
  assert.equal(checkWebhookUrl("http://127.0.0.1:8080/wake").port, "8080");
});

Deno.test("checkWebhookUrl refuses ftp:, credentials and garbage with ERR_BODY_INVALID", () => {
  const refused = (url: string, pattern: RegExp) =>
    assert.throws(
      () => checkWebhookUrl(url),
      (error: unknown) =>
        error instanceof CrosstalkError && error.code === "ERR_BODY_INVALID" &&
        pattern.test(error.message) && !error.message.includes("hunter2"),
    );
  refused("ftp://files.example.com/hook", /"ftp:".*only http: and https:/);
  refused("file:///etc/passwd", /"file:"/);
  refused("javascript:alert(1)", /"javascript:"/);
  refused("https://bot:hunter2@hooks.example.com/hook", /user or password/);
  refused("https://bot@hooks.example.com/hook", /user or password/);
  refused("not a url", /not an absolute http: or https: URL/);
  refused("", /not an absolute/);
  refused("http://", /not an absolute/);
  refused("/relative/path", /not an absolute/);
  refused("http://exa mple.com:hunter2/", /not an absolute/);
});
