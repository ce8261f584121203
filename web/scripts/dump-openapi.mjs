// Writes the server's OpenAPI document to web/openapi.json, from the app itself (no server
// running): the generated client (src/api/schema.d.ts) is built from this file.
// Python: $LABBOOK_PYTHON, else ../.venv/bin/python, else python3; the repository's src/ goes
// first on PYTHONPATH so a worktree dumps its own routes.
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const web = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const root = path.dirname(web);
const venv = path.join(root, ".venv", "bin", "python");
const python = process.env.LABBOOK_PYTHON ?? (existsSync(venv) ? venv : "python3");
const code = `
import json, sys, tempfile
from labbook.server import create_app
from labbook.settings import Settings
with tempfile.TemporaryDirectory() as d:
    app = create_app(Settings(dir=d, db_url=f"sqlite:///{d}/openapi.db", blobs_uri=f"file://{d}/blobs", auth=False))
    sys.stdout.write(json.dumps(app.openapi(), indent=2, sort_keys=True) + "\\n")
`;
const env = { ...process.env, PYTHONPATH: [path.join(root, "src"), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) };
const out = execFileSync(python, ["-c", code], { env, maxBuffer: 64 << 20 });
writeFileSync(path.join(web, "openapi.json"), out);
console.log(`wrote ${path.join(web, "openapi.json")} (${out.length} bytes)`);
