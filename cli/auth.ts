// `crosstalk auth login | list | use | logout`, `token create | list | revoke`,
// `user create | list | delete | passwd`: logins and the engine's users and tokens.
import { join } from "../transports/path.ts";
import type { Identity, TokenRecord, User } from "../engine/auth.ts";
import { CrosstalkError } from "../schema/errors.ts";
import {
  checkCredentialsWritable,
  credentialsPath,
  HttpClient,
  loadCredentials,
  oldTokenFile,
  openApi,
  saveCredentials,
} from "./_client.ts";
import {
  type CliContext,
  Command,
  locationOf,
  printJson,
  printTable,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";
import { ask } from "./_prompt.ts";

/** The `auth` noun. */
export function authCommand(ctx: CliContext): Command {
  const auth = new Command("auth").description(
    "log in to engines; saved logins live in ~/.config/crosstalk/credentials.json",
  );

  withTransportOptions(auth.command("login"))
    .description(
      "log in and save the token as a profile (the passphrase is read from the terminal or stdin)",
    )
    .option("--username <name>", "who to log in as (asked for when missing)")
    .action(async (flags: TransportFlags & { username?: string }) => {
      // Before anything is asked or a token minted: a file that cannot take it is refused.
      checkCredentialsWritable(ctx.env, await loadCredentials(ctx.env));
      const server = ctx.globals.server ?? await localServer(flags, ctx);
      const name = ctx.globals.profile ?? "default";
      const username = flags.username ?? await ask(ctx, "Username: ", false);
      const passphrase = await ask(ctx, "Passphrase: ", true);
      const client = new HttpClient(server, undefined);
      const login = await client.call<TokenRecord & { token: string }>("POST", "/api/login", {
        username,
        passphrase,
        token_name: `cli@${Deno.hostname()}`.slice(0, 64),
      });
      // Read again: another login may have been saved while this one waited for the passphrase.
      const credentials = await loadCredentials(ctx.env);
      credentials.profiles[name] = { server: client.via, username, token: login.token };
      credentials.active = name;
      await saveCredentials(ctx.env, credentials);
      ctx.out(
        `Logged in to ${client.via} as ${username}; saved as profile "${name}" in ${
          credentialsPath(ctx.env)
        }\n`,
      );
    });

  withJson(auth.command("list"))
    .description("the saved logins; * marks the active one")
    .action(async (flags: { json?: boolean }) => {
      const credentials = await loadCredentials(ctx.env);
      const rows = Object.entries(credentials.profiles).map(([name, p]) => ({
        name,
        server: p.server,
        username: p.username,
        active: name === credentials.active,
      }));
      if (credentials.foreign !== undefined) {
        ctx.err(
          `warning: "${credentialsPath(ctx.env)}" is not used: ${credentials.foreign} ` +
            "(another program's, or an older crosstalk's?)\n",
        );
      }
      const old = await oldTokenFile(ctx.env);
      if (old) {
        ctx.err(
          `warning: "${old}" is an older crosstalk's token file, which this one does not read: ` +
            'log in with "crosstalk auth login"\n',
        );
      }
      if (flags.json) return printJson(ctx, rows);
      if (rows.length === 0) return ctx.out('No saved logins (run "crosstalk auth login")\n');
      printTable(
        ctx,
        ["", "PROFILE", "USERNAME", "SERVER"],
        rows.map((r) => [r.active ? "*" : "", r.name, r.username, r.server]),
      );
    });

  auth.command("use")
    .description("make a saved login the active one")
    .argument("<profile>")
    .action(async (name: string) => {
      const credentials = await loadCredentials(ctx.env);
      if (!credentials.profiles[name]) {
        throw new CrosstalkError("ERR_USAGE", `No profile "${name}" (see "crosstalk auth list")`);
      }
      credentials.active = name;
      await saveCredentials(ctx.env, credentials);
      ctx.out(`Now using "${name}" (${credentials.profiles[name]!.server})\n`);
    });

  auth.command("logout")
    .description(
      "forget a saved login (default: the active one) and revoke its token when the engine is reachable",
    )
    .argument("[profile]")
    .action(async (given: string | undefined) => {
      const credentials = await loadCredentials(ctx.env);
      const name = given ?? ctx.globals.profile ?? credentials.active;
      const profile = name === undefined ? undefined : credentials.profiles[name];
      if (!name || !profile) {
        throw new CrosstalkError(
          "ERR_USAGE",
          'No such login to forget (see "crosstalk auth list")',
        );
      }
      const client = new HttpClient(profile.server, profile.token);
      try {
        const me = await client.call<{ tokenId: string }>("GET", "/api/whoami");
        await client.call("DELETE", `/api/tokens/${me.tokenId}`);
      } catch {
        // Unreachable or already revoked: forgetting it locally is what matters.
      }
      delete credentials.profiles[name];
      if (credentials.active === name) delete credentials.active;
      await saveCredentials(ctx.env, credentials);
      ctx.out(`Logged out of "${name}"\n`);
    });
  return auth;
}

/**
 * `crosstalk whoami`: who this command line speaks as, and to which engine; and who a message
 * sent here would be from, and why (cli/_sender.ts).
 */
export function whoamiCommand(ctx: CliContext): Command {
  return withJson(withTransportOptions(new Command("whoami")))
    .description(
      "who the CLI speaks as here, and to which engine (in an agent the engine runs: that agent), " +
        "and who a message sent here is from, and why (--from, $CROSSTALK_FROM, the live session " +
        "whose agent CLI runs it, this tmux pane)",
    )
    .option("--from <address>", "as message send --from would: say whether it may")
    .action(async (flags: TransportFlags & { json?: boolean; from?: string }) => {
      const api = await openApi(flags, ctx);
      const me = await api.call<Identity>("GET", "/api/whoami");
      const { senderOf, senderOptions } = await import("./_sender.ts");
      const sender = await senderOf(api, senderOptions(flags, ctx));
      const name = sender.from ?? me.subject;
      // As the engine decides a send (routes/messages.ts).
      const allowed = name === me.subject || me.admin;
      if (flags.json) {
        return printJson(ctx, {
          ...me,
          server: api.via,
          sender: { name, source: sender.source, why: sender.why, allowed },
        });
      }
      const role = me.kind === "user" ? (me.admin ? "admin" : "user") : me.kind;
      ctx.out(`${me.subject} (${role}) at ${api.via}\n`);
      ctx.out(
        `sends as ${name}: ${sender.why}${
          allowed ? "" : ` (refused: this token sends as ${me.subject} only; only an admin's ` +
            "token may send as someone else)"
        }\n`,
      );
    });
}

/** The `token` noun. */
export function tokenCommand(ctx: CliContext): Command {
  const token = new Command("token").description(
    "API tokens of the current user (admins see everyone's)",
  );
  withJson(withTransportOptions(token.command("create")))
    .description("mint a token; it is printed once and never again")
    .argument("<name>")
    .option("--ttl <seconds>", "lifetime (default 90 days)", Number)
    .action(async (name: string, flags: TransportFlags & { ttl?: number }) => {
      const api = await openApi(flags, ctx);
      const created = await api.call<TokenRecord & { token: string }>("POST", "/api/tokens", {
        name,
        ...(flags.ttl === undefined ? {} : { ttl_seconds: flags.ttl }),
      });
      if (flags.json) return printJson(ctx, created);
      ctx.out(`${created.token}\n`);
      ctx.err(
        `Token "${name}" (${created.id}) expires ${created.expires}; it is shown only this once\n`,
      );
    });
  withJson(withTransportOptions(token.command("list")))
    .description("list tokens by name and last use")
    .action(async (flags: TransportFlags) => {
      const { tokens } = await (await openApi(flags, ctx)).call<{ tokens: TokenRecord[] }>(
        "GET",
        "/api/tokens",
      );
      if (flags.json) return printJson(ctx, tokens);
      printTable(
        ctx,
        ["ID", "NAME", "USER", "LAST USED", "EXPIRES"],
        tokens.map((t) => [t.id, t.name, t.username, t.lastUsed ?? "never", t.expires]),
      );
    });
  withJson(withTransportOptions(token.command("revoke")))
    .description("revoke a token at once")
    .argument("<id>")
    .action(async (id: string, flags: TransportFlags) => {
      const revoked = await (await openApi(flags, ctx)).call<TokenRecord>(
        "DELETE",
        `/api/tokens/${encodeURIComponent(id)}`,
      );
      if (flags.json) return printJson(ctx, revoked);
      ctx.out(`Revoked "${revoked.name}" (${revoked.id})\n`);
    });
  return token;
}

/** The `user` noun. */
export function userCommand(ctx: CliContext): Command {
  const user = new Command("user").description(
    "the engine's users (admins only, except passwd for yourself)",
  );
  withJson(withTransportOptions(user.command("create")))
    .description("create a user (the passphrase is read from the terminal or stdin)")
    .argument("<username>")
    .option("--admin", "make the user an admin")
    .action(async (username: string, flags: TransportFlags & { admin?: boolean }) => {
      const api = await openApi(flags, ctx);
      const passphrase = await ask(ctx, `Passphrase for ${username}: `, true);
      const created = await api.call<User>("POST", "/api/users", {
        username,
        passphrase,
        admin: flags.admin === true,
      });
      if (flags.json) return printJson(ctx, created);
      ctx.out(`Created ${created.admin ? "admin" : "user"} "${created.username}"\n`);
    });
  withJson(withTransportOptions(user.command("list")))
    .description("list users")
    .action(async (flags: TransportFlags) => {
      const { users } = await (await openApi(flags, ctx)).call<{ users: User[] }>(
        "GET",
        "/api/users",
      );
      if (flags.json) return printJson(ctx, users);
      printTable(
        ctx,
        ["USERNAME", "ADMIN", "CREATED"],
        users.map((u) => [u.username, u.admin ? "yes" : "no", u.created]),
      );
    });
  withTransportOptions(user.command("delete"))
    .description("delete a user and revoke their tokens")
    .argument("<username>")
    .action(async (username: string, flags: TransportFlags) => {
      await (await openApi(flags, ctx)).call(
        "DELETE",
        `/api/users/${encodeURIComponent(username)}`,
      );
      ctx.out(`Deleted "${username}"\n`);
    });
  withJson(withTransportOptions(user.command("admin")))
    .description("make a user an admin (on) or take it back (off); not your own, not the last")
    .argument("<username>")
    .argument("<state>", "on or off")
    .action(async (username: string, state: string, flags: TransportFlags & { json?: boolean }) => {
      if (state !== "on" && state !== "off") {
        throw new CrosstalkError("ERR_USAGE", `Say on or off, not ${JSON.stringify(state)}`);
      }
      const changed = await (await openApi(flags, ctx)).call<User>(
        "PATCH",
        `/api/users/${encodeURIComponent(username)}`,
        { admin: state === "on" },
      );
      if (flags.json) return printJson(ctx, changed);
      ctx.out(`"${changed.username}" is ${changed.admin ? "an admin" : "not an admin"}\n`);
    });
  withTransportOptions(user.command("passwd"))
    .description("set a new passphrase (your own, or anyone's as an admin)")
    .argument("<username>")
    .action(async (username: string, flags: TransportFlags) => {
      const api = await openApi(flags, ctx);
      const passphrase = await ask(ctx, `New passphrase for ${username}: `, true);
      await api.call("POST", `/api/users/${encodeURIComponent(username)}/passphrase`, {
        passphrase,
      });
      ctx.out(`Changed the passphrase of "${username}"\n`);
    });
  return user;
}

/** The local engine's URL for this transport (its remembered port), or the default. */
async function localServer(flags: TransportFlags, ctx: CliContext): Promise<string> {
  const { DEFAULT_PORT } = await import("../engine/api_setup.ts");
  const location = locationOf(flags, ctx);
  const port = Number(
    (await Deno.readTextFile(join(location.stateDir, "api-port")).catch(() => "")).trim(),
  );
  return `http://127.0.0.1:${Number.isInteger(port) && port > 0 ? port : DEFAULT_PORT}`;
}
