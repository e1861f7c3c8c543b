/**
 * The webhook wake adapter: a live agent that owns an HTTP endpoint is woken by a signed `POST`.
 *
 * ## Verifying a delivery (for receivers)
 *
 * Every delivery is a `POST` with a JSON body and these headers:
 *
 * | header                  | value                                                          |
 * | ----------------------- | -------------------------------------------------------------- |
 * | `Content-Type`          | `application/json`                                             |
 * | `X-Crosstalk-Event`     | what happened, e.g. `wake`                                     |
 * | `X-Crosstalk-Delivery`  | a random UUID, new for every attempt; use it to drop repeats   |
 * | `X-Crosstalk-Signature` | `t=<unix seconds>,v1=<64 lowercase hex digits>`                |
 *
 * `v1` is the HMAC-SHA256, keyed by the shared secret (its UTF-8 bytes), of the string
 * `` `${t}.${rawBody}` ``: the `t` value exactly as it appears in the header, a dot, and the request
 * body exactly as received, byte for byte, before any JSON parsing or re-serialising. To verify:
 *
 * 1. Read the raw body as text. Do not parse it first: a parsed and re-encoded body differs.
 * 2. Split the header on `,` and each part on the first `=`. Take `t` and every `v1` (more than one
 *    `v1` may be sent while a secret is being rotated; any one matching is enough). Ignore keys you do
 *    not know, so a future `v2` does not break you.
 * 3. Compute HMAC-SHA256(secret, `` `${t}.${rawBody}` ``) as lowercase hex and compare it with each
 *    `v1` in constant time (`crypto.timingSafeEqual` in Node, `hmac.compare_digest` in Python).
 * 4. Reject the delivery unless `t` is within the tolerance of your clock, 300 seconds by default,
 *    in either direction. This is the replay protection: a captured request stops being accepted
 *    once it is older than the tolerance, and because `t` is signed it cannot be refreshed.
 * 5. Answer any 2xx quickly once verified. Anything else, including a redirect, counts as a failed
 *    delivery: redirects are never followed, so the signed request only ever reaches the URL that
 *    was registered.
 *
 * In Deno or TypeScript, {@linkcode verifyWebhookSignature} does steps 2 to 4:
 *
 * ```ts
 * const body = await request.text();
 * const ok = await verifyWebhookSignature(secret, request.headers.get("x-crosstalk-signature"), body);
 * if (!ok) return new Response("bad signature", { status: 401 });
 * ```
 *
 * The secret is never logged, put in an error message or sent in a URL; only its HMAC travels.
 */
import { CrosstalkError } from "../schema/errors.ts";

/** The shortest secret accepted for signing: shorter ones are guessable offline from one delivery. */
export const MIN_SECRET_LENGTH = 16;
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_TOLERANCE_SECONDS = 300;
/** Longer headers are garbage; bounding them bounds the work an attacker can make a receiver do. */
const MAX_SIGNATURE_HEADER = 4096;

/** Options for {@linkcode postWebhook}. */
export interface WebhookOptions {
  /** Shared with the receiver; at least 16 characters. Never logged or put in a message or URL. */
  secret: string;
  /** How long the whole request may take before it counts as failed; default 5000. */
  timeoutMs?: number;
  /** The clock in milliseconds, for tests; it sets the signed timestamp. */
  now?: () => number;
  /** Aborts the delivery, e.g. on engine shutdown. */
  signal?: AbortSignal;
  /** The fetch to use; default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** How a delivery went: a 2xx, or why not. */
export type WebhookResult =
  | { ok: true; status: number }
  | { ok: false; status?: number; detail: string };

/** Options for {@linkcode verifyWebhookSignature}. */
export interface VerifyOptions {
  /** How far the signed timestamp may be from `now`, either way; default 300. */
  toleranceSeconds?: number;
  /** The clock in milliseconds, for tests. */
  now?: () => number;
}

/**
 * POSTs `payload` as JSON to `url`, signed with `options.secret` (see the module doc for the
 * headers). A 2xx is `ok`; any other status, a redirect (never followed), a network error or a
 * timeout is `ok: false` with a `detail` naming the URL without credentials or query string.
 *
 * @throws {RangeError} when the secret is shorter than 16 characters or `timeoutMs` is not positive
 * @throws {TypeError} when `event` is not a header-safe token or `payload` is not JSON-serialisable
 */
export async function postWebhook(
  url: string,
  event: string,
  payload: unknown,
  options: WebhookOptions,
): Promise<WebhookResult> {
  const { secret } = options;
  if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) {
    throw new RangeError(`A webhook secret must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`A webhook timeout must be a positive number of ms, got ${timeoutMs}`);
  }
  if (!/^[\x21-\x7e]{1,128}$/.test(event)) {
    throw new TypeError(`A webhook event must be 1 to 128 visible ASCII characters`);
  }
  const body = JSON.stringify(payload);
  if (body === undefined) throw new TypeError("A webhook payload must be serialisable as JSON");

  let target: URL;
  try {
    target = checkWebhookUrl(url);
  } catch (error) {
    // A stored URL that would be refused now is a failed delivery, not a crash of the caller.
    if (error instanceof CrosstalkError) return { ok: false, detail: error.message };
    throw error;
  }
  const where = describeUrl(target);
  if (options.signal?.aborted) return { ok: false, detail: `POST ${where} was aborted` };

  const t = Math.floor((options.now ?? Date.now)() / 1000).toString();
  const signature = toHex(await hmac(secret, `${t}.${body}`));
  const timeout = new AbortController();
  // A timer of our own rather than AbortSignal.timeout, so it is cleared the moment we are done.
  const timer = setTimeout(() => timeout.abort(), timeoutMs);
  const signal = options.signal
    ? AbortSignal.any([timeout.signal, options.signal])
    : timeout.signal;
  const doFetch = options.fetch ?? globalThis.fetch;
  try {
    const response = await doFetch(target, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-Crosstalk-Event": event,
        "X-Crosstalk-Delivery": crypto.randomUUID(),
        "X-Crosstalk-Signature": `t=${t},v1=${signature}`,
      },
      body,
      // Following a redirect would send a signed request somewhere nobody registered.
      redirect: "manual",
      signal,
    });
    // Nothing in the body is used; cancelling frees the connection.
    await response.body?.cancel().catch(() => {});
    if (response.status >= 200 && response.status < 300) {
      return { ok: true, status: response.status };
    }
    const statusText = response.statusText ? ` ${response.statusText}` : "";
    if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
      return {
        ok: false,
        ...(response.status > 0 ? { status: response.status } : {}),
        detail: `POST ${where} answered with a redirect (${response.status}${statusText}), ` +
          "which is not followed",
      };
    }
    return {
      ok: false,
      status: response.status,
      detail: `POST ${where} answered ${response.status}${statusText}`,
    };
  } catch (error) {
    if (timeout.signal.aborted) {
      return { ok: false, detail: `POST ${where} timed out after ${timeoutMs} ms` };
    }
    if (options.signal?.aborted) return { ok: false, detail: `POST ${where} was aborted` };
    return { ok: false, detail: `POST ${where} failed: ${scrub(causeOf(error), target, secret)}` };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks `header` (an `X-Crosstalk-Signature` value) against the raw request body: a `v1` HMAC that
 * matches in constant time, and a timestamp within the tolerance. False on any garbage input.
 *
 * @throws {RangeError} when `toleranceSeconds` is negative or not a number
 */
export async function verifyWebhookSignature(
  secret: string,
  header: string | null,
  rawBody: string,
  options: VerifyOptions = {},
): Promise<boolean> {
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new RangeError(`A signature tolerance must be 0 or more seconds, got ${tolerance}`);
  }
  if (typeof secret !== "string" || secret === "") return false;
  if (typeof header !== "string" || header.length > MAX_SIGNATURE_HEADER) return false;
  if (typeof rawBody !== "string") return false;
  let t: string | undefined;
  const candidates: Uint8Array[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return false;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      // Two timestamps would leave it open which one was signed.
      if (t !== undefined || !/^\d{1,12}$/.test(value)) return false;
      t = value;
    } else if (key === "v1") {
      const bytes = fromHex(value);
      if (bytes) candidates.push(bytes);
    }
  }
  if (t === undefined || candidates.length === 0) return false;
  const nowSeconds = (options.now ?? Date.now)() / 1000;
  if (Math.abs(nowSeconds - Number(t)) > tolerance) return false;
  let expected: Uint8Array;
  try {
    expected = await hmac(secret, `${t}.${rawBody}`);
  } catch {
    return false;
  }
  let ok = false;
  // Check every candidate, not just until the first match, so timing says nothing about which.
  for (const candidate of candidates) ok = constantTimeEqual(candidate, expected) || ok;
  return ok;
}

/**
 * Checks a webhook URL before it is stored: `http:` or `https:`, no user or password in it, a host.
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID` naming what is wrong (never echoing credentials)
 */
export function checkWebhookUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The text is not echoed: it may be a URL with a secret in it that merely failed to parse.
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      "Cannot use the webhook URL: it is not an absolute http: or https: URL",
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `Cannot use a "${parsed.protocol}" URL as a webhook: only http: and https: are allowed`,
    );
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `Cannot use the webhook URL for "${parsed.host}": it has a user or password in it, ` +
        "which would be stored and logged; the signature authenticates deliveries instead",
    );
  }
  if (parsed.hostname === "") {
    throw new CrosstalkError("ERR_BODY_INVALID", "Cannot use the webhook URL: it has no host");
  }
  return parsed;
}

/** The URL as it may appear in a detail: no credentials, query string or fragment. */
function describeUrl(url: URL): string {
  return `"${url.origin}${url.pathname}"`;
}

/** An error's message with those of its causes: fetch says only "fetch failed", its cause says why. */
function causeOf(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.includes(message)) parts.push(message);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ") || "unknown error";
}

/** A fetch error message with the URL's query string and anything secret taken out. */
function scrub(message: string, url: URL, secret: string): string {
  const safe = `${url.origin}${url.pathname}`;
  let text = message.replaceAll(url.href, safe);
  // Runtimes may print the URL in another normalisation; drop any query or fragment still there.
  text = text.replace(/(https?:\/\/[^\s?#)"']*)[?#][^\s)"']*/gi, "$1");
  text = text.replace(/(https?:\/\/)[^\s/@]*@/gi, "$1");
  return text.replaceAll(secret, "***");
}

async function hmac(secret: string, text: string): Promise<Uint8Array> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(text)));
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** 32 bytes from 64 hex digits, or undefined for anything else. */
function fromHex(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) return undefined;
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** Equal-length byte comparison whose time does not depend on where the first difference is. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
