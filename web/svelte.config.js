import { createHash } from "node:crypto";
import adapter from "@sveltejs/adapter-node";

// SvelteKit's route announcer (for screen readers) carries this style attribute; the policy allows
// exactly this attribute value and no other inline style
const ANNOUNCER_STYLE =
  "position: absolute; left: 0; top: 0; clip: rect(0 0 0 0); clip-path: inset(50%); overflow: hidden; white-space: nowrap; width: 1px; height: 1px";
const announcerHash = `sha256-${createHash("sha256").update(ANNOUNCER_STYLE).digest("base64")}`;

/** @type {import('@sveltejs/kit').Config} */
const config = {
  compilerOptions: { runes: true },
  kit: {
    // the gateway mounts build/handler.js; every dependency is bundled (all are devDependencies),
    // so a deployed build/ needs nothing installed beside the back end
    adapter: adapter({ out: "build", precompress: true }),
    // SvelteKit adds the hash of its inline start-up script to this policy on every page, so the
    // dashboard runs with scripts from itself only
    csp: {
      mode: "hash",
      directives: {
        "default-src": ["self"],
        "script-src": ["self"],
        "style-src": ["self"],
        "style-src-attr": ["unsafe-hashes", announcerHash],
        "img-src": ["self", "data:", "blob:"],
        "font-src": ["self"],
        "connect-src": ["self"],
        "object-src": ["none"],
        "base-uri": ["none"],
        "form-action": ["self"],
        "frame-ancestors": ["none"],
      },
    },
    version: { pollInterval: 0 },
  },
};

export default config;
