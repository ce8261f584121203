// Fails when src/api/schema.d.ts is not what openapi-typescript makes of openapi.json today
// (the generated client went stale: run `npm run api:gen`, or `npm run api` after a server change).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const web = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const tmp = mkdtempSync(path.join(tmpdir(), "labbook-api-"));
try {
  const out = path.join(tmp, "schema.d.ts");
  const bin = path.join(web, "node_modules", ".bin", "openapi-typescript");
  execFileSync(bin, [path.join(web, "openapi.json"), "-o", out], { stdio: "pipe" });
  const fresh = readFileSync(out, "utf8");
  const committed = readFileSync(path.join(web, "src", "api", "schema.d.ts"), "utf8");
  if (fresh !== committed) {
    console.error("src/api/schema.d.ts is stale: it differs from openapi-typescript's output for openapi.json; run `npm run api:gen`");
    process.exit(1);
  }
  console.log("src/api/schema.d.ts matches openapi.json");
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
