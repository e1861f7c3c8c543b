/**
 * `AuthStore`: the engine's users, passphrases and API tokens, in `<state>/auth/` (0600 files,
 * never in the transport). Passphrases are hashed with scrypt (memory-hard); tokens are JWTs
 * signed with the engine's own ES256 key (jose), checked with the algorithm, issuer and audience
 * pinned, and revocable at once. The one module that touches `jose`.
 */
import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { join } from "../transports/path.ts";
import {
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from "jose";
import { CrosstalkError } from "../schema/errors.ts";
import { isName, writeFileAtomic } from "../transports/mod.ts";

/** The issuer and audience every crosstalk token carries. */
export const ISSUER = "crosstalk";
export const AUDIENCE = "crosstalk-api";
const ALGORITHM = "ES256";
/** API tokens live this long unless asked otherwise. */
export const DEFAULT_TOKEN_TTL_SECONDS = 90 * 24 * 3600;
/** The shortest lifetime a minted token may ask for: a minute. */
export const MIN_TOKEN_TTL_SECONDS = 60;
/** The longest: ten years. */
export const MAX_TOKEN_TTL_SECONDS = 10 * 365 * 24 * 3600;
const SCRYPT = { N: 1 << 15, r: 8, p: 1, keylen: 32 };

/** A user of this engine. */
export interface User {
  username: string;
  admin: boolean;
  created: string;
}

interface StoredUser extends User {
  /** `scrypt$N$r$p$<salt b64>$<hash b64>`. */
  hash: string;
}

/** An API token's record (the token itself is shown once and never stored). */
export interface TokenRecord {
  id: string;
  name: string;
  username: string;
  created: string;
  expires: string;
  lastUsed: string | null;
  revoked: boolean;
}

/** Who a verified token speaks for. */
export interface Identity {
  /** A username, a dispatched CLI's model (`provider/model`) or a live agent's name. */
  subject: string;
  kind: "user" | "agent" | "live";
  admin: boolean;
  tokenId: string;
}

interface AuthFiles {
  users: StoredUser[];
  tokens: TokenRecord[];
}

/** Users and tokens of one engine. */
export class AuthStore {
  readonly dir: string;
  #files: AuthFiles;
  #privateKey: CryptoKey;
  #publicKey: CryptoKey;
  #kid: string;
  #lastUseWritten = new Map<string, number>();
  #verified = new Map<string, JWTPayload>();

  private constructor(
    dir: string,
    files: AuthFiles,
    keys: { privateKey: CryptoKey; publicKey: CryptoKey; kid: string },
  ) {
    this.dir = dir;
    this.#files = files;
    this.#privateKey = keys.privateKey;
    this.#publicKey = keys.publicKey;
    this.#kid = keys.kid;
  }

  /**
   * A short, stable name for this engine's signing key: it tells apart the session cookies of
   * engines on one host (a browser sends a host's cookies to every port).
   */
  get keyName(): string {
    return this.#kid.slice(0, 12);
  }

  /** Opens (creating on first use) the auth store in `<stateDir>/auth`. */
  static async open(stateDir: string): Promise<AuthStore> {
    const dir = join(stateDir, "auth");
    const { privateKey, publicJwk } = await openSigningKey(stateDir);
    const publicKey = await importJWK(publicJwk, ALGORITHM) as CryptoKey;
    const kid = await calculateJwkThumbprint(publicJwk);
    const files: AuthFiles = { users: [], tokens: [] };
    for (const name of ["users", "tokens"] as const) {
      try {
        const text = await Deno.readTextFile(join(dir, `${name}.json`));
        (files as unknown as Record<string, unknown>)[name] = JSON.parse(text);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return new AuthStore(dir, files, { privateKey, publicKey, kid });
  }

  /** True when no user exists yet (first start). */
  get empty(): boolean {
    return this.#files.users.length === 0;
  }

  /** Every user, without their hashes. */
  listUsers(): User[] {
    return this.#files.users.map(({ username, admin, created }) => ({ username, admin, created }));
  }

  /** One user. @throws {CrosstalkError} `ERR_USER_NOT_FOUND` */
  getUser(username: string): User {
    const user = this.#files.users.find((u) => u.username === username);
    if (!user) throw new CrosstalkError("ERR_USER_NOT_FOUND", `No user "${username}"`);
    return { username: user.username, admin: user.admin, created: user.created };
  }

  /**
   * Creates a user.
   *
   * @throws {CrosstalkError} `ERR_USER_INVALID` (name or passphrase), `ERR_USER_EXISTS`
   */
  async createUser(username: string, passphrase: string, admin: boolean): Promise<User> {
    checkUsername(username);
    checkPassphrase(passphrase);
    if (this.#files.users.some((u) => u.username === username)) {
      throw new CrosstalkError("ERR_USER_EXISTS", `User "${username}" already exists`);
    }
    const user: StoredUser = {
      username,
      admin,
      created: new Date().toISOString(),
      hash: await hashPassphrase(passphrase),
    };
    this.#files.users.push(user);
    await this.#save("users");
    return this.getUser(username);
  }

  /** Changes a passphrase. @throws {CrosstalkError} `ERR_USER_NOT_FOUND`, `ERR_USER_INVALID` */
  async setPassphrase(username: string, passphrase: string): Promise<void> {
    checkPassphrase(passphrase);
    const user = this.#files.users.find((u) => u.username === username);
    if (!user) throw new CrosstalkError("ERR_USER_NOT_FOUND", `No user "${username}"`);
    user.hash = await hashPassphrase(passphrase);
    await this.#save("users");
  }

  /**
   * Makes a user an admin or takes it back; it holds for their tokens at once (each request reads
   * the user's record).
   *
   * @throws {CrosstalkError} `ERR_USER_NOT_FOUND`, `ERR_FORBIDDEN` (taking it from the last admin)
   */
  async setAdmin(username: string, admin: boolean): Promise<User> {
    const user = this.#files.users.find((u) => u.username === username);
    if (!user) throw new CrosstalkError("ERR_USER_NOT_FOUND", `No user "${username}"`);
    if (user.admin === admin) return this.getUser(username);
    if (!admin && this.#files.users.filter((u) => u.admin).length === 1) {
      throw new CrosstalkError("ERR_FORBIDDEN", `"${username}" is the last admin`);
    }
    user.admin = admin;
    await this.#save("users");
    return this.getUser(username);
  }

  /** Deletes a user and revokes their tokens. @throws {CrosstalkError} `ERR_USER_NOT_FOUND` */
  async deleteUser(username: string): Promise<void> {
    const before = this.#files.users.length;
    this.#files.users = this.#files.users.filter((u) => u.username !== username);
    if (this.#files.users.length === before) {
      throw new CrosstalkError("ERR_USER_NOT_FOUND", `No user "${username}"`);
    }
    for (const t of this.#files.tokens) if (t.username === username) t.revoked = true;
    await this.#save("users");
    await this.#save("tokens");
  }

  /**
   * Checks a username and passphrase.
   *
   * @throws {CrosstalkError} `ERR_LOGIN_FAILED` (the same error for an unknown user and a wrong
   *   passphrase, after the same work, so neither can be told apart)
   */
  async verifyPassphrase(username: string, passphrase: string): Promise<User> {
    const user = this.#files.users.find((u) => u.username === username);
    const ok = await checkHash(passphrase, user?.hash ?? DUMMY_HASH);
    if (!user || !ok) throw new CrosstalkError("ERR_LOGIN_FAILED", "Wrong username or passphrase");
    return this.getUser(username);
  }

  /** Mints an API token for a user; the token string is returned once and never stored. */
  async mintToken(
    username: string,
    name: string,
    ttlSeconds = DEFAULT_TOKEN_TTL_SECONDS,
  ): Promise<{ token: string; record: TokenRecord }> {
    const user = this.getUser(username);
    if (!/^[\p{L}\p{N} ._@+-]{1,64}$/u.test(name)) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `Invalid token name ${JSON.stringify(name)}: 1 to 64 letters, digits, spaces and . _ @ + -`,
      );
    }
    if (
      !Number.isInteger(ttlSeconds) || ttlSeconds < MIN_TOKEN_TTL_SECONDS ||
      ttlSeconds > MAX_TOKEN_TTL_SECONDS
    ) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `A token's lifetime (ttl_seconds) is a whole number of seconds from ${MIN_TOKEN_TTL_SECONDS} to ${MAX_TOKEN_TTL_SECONDS} (ten years), not ${ttlSeconds}`,
      );
    }
    const id = crypto.randomUUID();
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ kind: "user", admin: user.admin })
      .setProtectedHeader({ alg: ALGORITHM, kid: this.#kid, typ: "JWT" })
      .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject(username).setJti(id)
      .setIssuedAt(now).setNotBefore(now - 5).setExpirationTime(now + ttlSeconds)
      .sign(this.#privateKey);
    const record: TokenRecord = {
      id,
      name,
      username,
      created: new Date(now * 1000).toISOString(),
      expires: new Date((now + ttlSeconds) * 1000).toISOString(),
      lastUsed: null,
      revoked: false,
    };
    this.#files.tokens.push(record);
    await this.#save("tokens");
    return { token, record };
  }

  /** A short-lived token for a dispatched CLI, speaking as its model. Not stored. */
  async mintAgentToken(model: string, ttlSeconds: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return await new SignJWT({ kind: "agent", admin: false })
      .setProtectedHeader({ alg: ALGORITHM, kid: this.#kid, typ: "JWT" })
      .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject(model).setJti(crypto.randomUUID())
      .setIssuedAt(now).setNotBefore(now - 5).setExpirationTime(now + ttlSeconds)
      .sign(this.#privateKey);
  }

  /**
   * A token for a live agent session, speaking as the agent. Not stored: it holds while the
   * engine's live agent record carries its id (checked by the API on every request).
   */
  async mintLiveToken(name: string, jti: string, ttlSeconds: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return await new SignJWT({ kind: "live", admin: false })
      .setProtectedHeader({ alg: ALGORITHM, kid: this.#kid, typ: "JWT" })
      .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject(name).setJti(jti)
      .setIssuedAt(now).setNotBefore(now - 5).setExpirationTime(now + ttlSeconds)
      .sign(this.#privateKey);
  }

  /**
   * Verifies a bearer token: signature (ES256 only), issuer, audience, time, not revoked, and its
   * user still exists.
   *
   * @throws {CrosstalkError} `ERR_TOKEN_INVALID`, `ERR_TOKEN_EXPIRED`, `ERR_TOKEN_REVOKED`
   */
  async verifyToken(token: string): Promise<Identity> {
    // A token whose signature checked out once is not checked again until it expires (the
    // signature cannot change); revocation and the user's existence are checked every time.
    let payload = this.#verified.get(token);
    if (payload && payload.exp! * 1000 <= Date.now()) {
      this.#verified.delete(token);
      throw new CrosstalkError("ERR_TOKEN_EXPIRED", "The token has expired");
    }
    if (!payload) payload = await this.#verifySignature(token);
    return await this.#identity(payload);
  }

  async #verifySignature(token: string): Promise<JWTPayload> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#publicKey, {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ["sub", "jti", "exp", "iat"],
        clockTolerance: 5,
      }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "ERR_JWT_EXPIRED") {
        throw new CrosstalkError("ERR_TOKEN_EXPIRED", "The token has expired");
      }
      throw new CrosstalkError("ERR_TOKEN_INVALID", "The token is not valid for this engine");
    }
    if (this.#verified.size >= 10_000) this.#verified.clear();
    this.#verified.set(token, payload);
    return payload;
  }

  async #identity(payload: JWTPayload): Promise<Identity> {
    const subject = payload.sub!;
    const tokenId = payload.jti!;
    if (payload.kind === "agent") return { subject, kind: "agent", admin: false, tokenId };
    if (payload.kind === "live") return { subject, kind: "live", admin: false, tokenId };
    const record = this.#files.tokens.find((t) => t.id === tokenId);
    if (!record || record.revoked) {
      throw new CrosstalkError("ERR_TOKEN_REVOKED", "The token has been revoked");
    }
    const user = this.#files.users.find((u) => u.username === subject);
    if (!user) throw new CrosstalkError("ERR_TOKEN_REVOKED", "The token's user no longer exists");
    await this.#touch(record);
    return { subject, kind: "user", admin: user.admin, tokenId };
  }

  /** Token records, a user's own or (for admins) everyone's. */
  listTokens(username?: string): TokenRecord[] {
    return this.#files.tokens.filter((t) =>
      !t.revoked && (username === undefined || t.username === username)
    );
  }

  /** Revokes a token at once. @throws {CrosstalkError} `ERR_TOKEN_NOT_FOUND` */
  async revokeToken(id: string, asUser?: string): Promise<TokenRecord> {
    const record = this.#files.tokens.find((t) =>
      t.id === id && (asUser === undefined || t.username === asUser)
    );
    if (!record) throw new CrosstalkError("ERR_TOKEN_NOT_FOUND", `No token "${id}"`);
    record.revoked = true;
    await this.#save("tokens");
    return record;
  }

  async #touch(record: TokenRecord): Promise<void> {
    // Last use is written at most once a minute per token, never on every request.
    const now = Date.now();
    if (now - (this.#lastUseWritten.get(record.id) ?? 0) < 60_000) return;
    this.#lastUseWritten.set(record.id, now);
    record.lastUsed = new Date(now).toISOString();
    await this.#save("tokens");
  }

  async #save(name: "users" | "tokens"): Promise<void> {
    await writeFileAtomic(
      join(this.dir, `${name}.json`),
      `${JSON.stringify(this.#files[name], null, 2)}\n`,
      {
        mode: 0o600,
        sync: true,
      },
    );
  }
}

/** @throws {CrosstalkError} `ERR_USER_INVALID` */
export function checkUsername(username: string): void {
  if (!isName(username) || ["all", "workflow", "here"].includes(username)) {
    throw new CrosstalkError(
      "ERR_USER_INVALID",
      `Invalid username ${
        JSON.stringify(username)
      }: use 1 to 64 letters, digits, . _ - (not "all", "workflow" or "here")`,
    );
  }
}

function checkPassphrase(passphrase: string): void {
  if (passphrase.length < 8 || passphrase.length > 1024) {
    throw new CrosstalkError("ERR_USER_INVALID", "A passphrase must be 8 to 1024 characters long");
  }
}

function scryptAsync(
  passphrase: string,
  salt: Buffer,
  N: number,
  r: number,
  p: number,
  keylen: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase,
      salt,
      keylen,
      { N, r, p, maxmem: 256 * N * r },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

async function hashPassphrase(passphrase: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(passphrase, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keylen);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64")}$${
    hash.toString("base64")
  }`;
}

async function checkHash(passphrase: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split("$");
  if (kind !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64");
  const actual = await scryptAsync(
    passphrase,
    Buffer.from(salt, "base64"),
    Number(n),
    Number(r),
    Number(p),
    expected.length,
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Compared against when the user does not exist, so a miss costs what a hit costs. */
const DUMMY_HASH =
  `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`;

/**
 * The engine's ES256 key in `<stateDir>/auth/signing-key.json` (0600), created on first use:
 * it signs API tokens (AuthStore) and nudges (EngineKey).
 */
async function openSigningKey(
  stateDir: string,
): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  const dir = join(stateDir, "auth");
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, "signing-key.json");
  let jwk: JWK;
  try {
    jwk = JSON.parse(await Deno.readTextFile(keyPath)) as JWK;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    const pair = await generateKeyPair(ALGORITHM, { extractable: true });
    jwk = await exportJWK(pair.privateKey);
    await writeFileAtomic(keyPath, `${JSON.stringify(jwk)}\n`, { mode: 0o600, sync: true });
  }
  const { d: _d, ...publicJwk } = jwk;
  return { privateKey: await importJWK(jwk, ALGORITHM) as CryptoKey, publicJwk };
}

/** The audience of nudges: a token for the API is never accepted as one, nor the reverse. */
const NUDGE_AUDIENCE = "crosstalk-nudge";

/**
 * The engine's key as it is used between engines: its public half goes into the engine's
 * dispatcher entry on the bus (public, so nothing secret is committed), and nudges are signed
 * with the private half (see engine/nudge.ts). It is the same key that signs API tokens; their
 * audiences keep the two apart.
 */
export class EngineKey {
  readonly publicJwk: JWK;
  #privateKey: CryptoKey;
  #cached: { token: string; until: number } | undefined;

  private constructor(publicJwk: JWK, privateKey: CryptoKey) {
    this.publicJwk = publicJwk;
    this.#privateKey = privateKey;
  }

  /** Opens (creating on first use) the engine's key in `<stateDir>/auth`. */
  static async open(stateDir: string): Promise<EngineKey> {
    const { privateKey, publicJwk } = await openSigningKey(stateDir);
    return new EngineKey(publicJwk, privateKey);
  }

  /** A nudge from `alias`, valid for two minutes (reused for one: signing is not free). */
  async nudgeToken(alias: string): Promise<string> {
    const now = Date.now();
    if (this.#cached && this.#cached.until > now) return this.#cached.token;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
      .setIssuer(alias)
      .setAudience(NUDGE_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("120s")
      .sign(this.#privateKey);
    this.#cached = { token, until: now + 60_000 };
    return token;
  }
}

/**
 * Checks a nudge: signed (ES256 only) by the engine it names as issuer, with the public key of
 * that engine's entry on the bus (`keyOf`). Returns the sender's alias.
 *
 * @throws {CrosstalkError} `ERR_TOKEN_INVALID` naming what is wrong, never the token
 */
export async function verifyNudge(
  token: string,
  keyOf: (alias: string) => Promise<JWK | undefined>,
): Promise<string> {
  let alias: string | undefined;
  try {
    const [, body] = token.split(".");
    const claims = JSON.parse(new TextDecoder().decode(Buffer.from(body ?? "", "base64url"))) as {
      iss?: unknown;
    };
    if (typeof claims.iss === "string" && isName(claims.iss)) alias = claims.iss;
  } catch {
    alias = undefined;
  }
  if (!alias) throw new CrosstalkError("ERR_TOKEN_INVALID", "The nudge names no valid engine");
  const jwk = await keyOf(alias);
  if (!jwk) {
    throw new CrosstalkError(
      "ERR_TOKEN_INVALID",
      `No key for engine "${alias}" on this transport (its dispatcher entry has not arrived yet)`,
    );
  }
  try {
    const key = await importJWK(jwk, ALGORITHM) as CryptoKey;
    await jwtVerify(token, key, {
      algorithms: [ALGORITHM],
      issuer: alias,
      audience: NUDGE_AUDIENCE,
      maxTokenAge: "10m",
    });
  } catch {
    throw new CrosstalkError("ERR_TOKEN_INVALID", `The nudge is not signed by engine "${alias}"`);
  }
  return alias;
}

/** The `exp` of a token that was verified already, in ms since the epoch (no check here). */
export function tokenExpiry(token: string): number | undefined {
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
