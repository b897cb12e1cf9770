import { sveltekit } from "@sveltejs/kit/vite";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [sveltekit()],
  // the dev server proxies the API (and the live channel) to a running `npm start`
  server: {
    proxy: {
      "/api": { target: process.env.AURA_API ?? "http://127.0.0.1:3000", ws: true },
      "/health": process.env.AURA_API ?? "http://127.0.0.1:3000",
    },
  },
});
