/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";

// The build lands in the Python package, which serves it at "/" (and ships it in the wheel).
const outDir = fileURLToPath(new URL("../src/labbook/server/webapp/", import.meta.url));
// `npm run dev` proxies the API to a `labbook server` (LABBOOK_DEV_API, default 127.0.0.1:8080).
const api = process.env.LABBOOK_DEV_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    sourcemap: process.env.LABBOOK_WEB_SOURCEMAP === "1",
    chunkSizeWarningLimit: 600,
  },
  server: {
    host: "127.0.0.1",
    proxy: { "/api": { target: api, changeOrigin: false } },
  },
  test: {
    include: ["src/**/*.test.ts", "tests/**/*.test.ts"],
    environment: "node",
  },
});
