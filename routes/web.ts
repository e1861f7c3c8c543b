// The web UI: one page and its script, served by the engine itself (no build step, no CDN). It
// signs in with a web session (POST /session: an HttpOnly cookie, and a CSRF token the script
// echoes in X-CSRF-Token), then uses the same API as everyone else, and follows the bus over
// GET /api/events. The page and its assets are open routes: they hold no data.
import { type Context, Hono } from "hono";
import type { Env } from "./_context.ts";
import { WEB_CSS, WEB_HTML, WEB_JS } from "./web_assets.ts";

/**
 * What the browser may do with the UI's pages: only this origin's script, style and API, no
 * framing, no inline code (message bodies are shown as text, and even markup that got through
 * could not run).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Crosstalk 8's web UI pages, by the view of this one that shows the same. */
export const CROSSTALK8_PAGES: [string, string][] = [
  ["/c", "bus"],
  ["/w", "workflows"],
  ["/agents", "engine"],
  ["/tokens", "tokens"],
  ["/account", "account"],
  ["/users", "users"],
  ["/logs", "logs"],
  ["/settings", "engine"],
  ["/about", "engine"],
];

/**
 * GET /, /ui, /ui/app.js and /ui/app.css, and Crosstalk 8's page addresses (/c/<channel>,
 * /w/<workflow>, /logs…) sent to their views; the page names this engine's CSRF cookie.
 */
export function webRoutes(csrfCookie: string): Hono<Env> {
  const app = new Hono<Env>();
  const page = WEB_HTML.replace(
    "<head>",
    `<head>\n<meta name="crosstalk-csrf-cookie" content="${csrfCookie}">`,
  );
  app.use("/ui/*", async (c, next) => {
    await next();
    c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("X-Frame-Options", "DENY");
    c.header("Cache-Control", "no-cache");
  });
  app.get("/", (c) => c.redirect("/ui/", 302));
  // Crosstalk 8's page addresses, bookmarked by its users: each opens the same view here.
  // Only a browser's page load: `/agents` is also an API route, and scripts keep it.
  for (const [path, view] of CROSSTALK8_PAGES) {
    app.get(path, async (c, next) => pageLoad(c) ? c.redirect(`/ui/#/${view}`) : await next());
  }
  for (const kind of ["c", "w"]) {
    app.get(
      `/${kind}/:name`,
      async (c, next) =>
        pageLoad(c)
          ? c.redirect(`/ui/#/${kind}/${encodeURIComponent(c.req.param("name"))}`)
          : await next(),
    );
  }
  app.get("/ui", (c) => c.redirect("/ui/", 301));
  app.get("/ui/", (c) => c.html(page));
  app.get(
    "/ui/app.js",
    (c) => c.body(WEB_JS, 200, { "Content-Type": "text/javascript; charset=utf-8" }),
  );
  app.get(
    "/ui/app.css",
    (c) => c.body(WEB_CSS, 200, { "Content-Type": "text/css; charset=utf-8" }),
  );
  return app;
}

/** A browser loading a page: it asks for HTML and sends no token of its own. */
function pageLoad(c: Context<Env>): boolean {
  return (c.req.header("Accept") ?? "").includes("text/html") && !c.req.header("Authorization");
}
