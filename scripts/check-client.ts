/**
 * `npm run check:client`: the client as its users meet it. Installs this
 * package into a fresh project with the one documented command, checks that
 * it brought nothing but itself (no Hono, no zod), that its type declarations
 * type-check on their own, and runs the README's example
 * (examples/charge-once.mjs) in the oldest Node.js the client supports,
 * against `wrangler dev`.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEV_API_KEY, startDevServer } from "./lib/dev-server.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const consumer = mkdtempSync(join(tmpdir(), "onceledger-consumer-"));
const run = (command: string, args: string[]) =>
  execFileSync(command, args, { cwd: consumer, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

function fail(message: string): never {
  console.error(`check:client: ${message}`);
  process.exit(1);
}

/** The system's Node.js (20 on the CI machine), not the project's own Node 24 from node_modules/.bin. */
function systemNode(): string {
  const candidates = execFileSync("which", ["-a", "node"], { encoding: "utf8" })
    .split("\n")
    .filter((path) => path !== "" && !path.includes("node_modules"));
  return candidates[0] ?? process.execPath;
}

try {
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  // The README's one command.
  run("npm", ["install", "--install-links", "--no-audit", "--no-fund", ROOT]);
  const installed = readdirSync(join(consumer, "node_modules")).filter((name) => !name.startsWith("."));
  if (installed.join() !== "onceledger") fail(`installing the client brought ${installed.join(", ")}`);

  writeFileSync(
    join(consumer, "check.ts"),
    'import { createLedgerClient, type EntryView } from "onceledger/client";\n' +
      'export const client = createLedgerClient({ baseUrl: "http://x", apiKey: "k" });\n' +
      "export type Entry = EntryView;\n",
  );
  writeFileSync(
    join(consumer, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: "NodeNext",
        moduleResolution: "NodeNext",
        target: "ES2022",
        lib: ["ES2022", "DOM"],
        noEmit: true,
        skipLibCheck: false,
        types: [],
      },
      files: ["check.ts"],
    }),
  );
  try {
    execFileSync(join(ROOT, "node_modules/.bin/tsc"), ["-p", consumer], { encoding: "utf8" });
  } catch (error) {
    fail(
      `the client's type declarations do not type-check in a consumer:\n${(error as { stdout?: string }).stdout ?? String(error)}`,
    );
  }

  copyFileSync(join(ROOT, "examples/charge-once.mjs"), join(consumer, "charge-once.mjs"));
  const node = systemNode();
  const version = run(node, ["--version"]).trim();
  const server = await startDevServer("check-client");
  try {
    const said = run(node, [
      "--input-type=module",
      "-e",
      `import { chargeOnce } from "./charge-once.mjs"; console.log(await chargeOnce(${JSON.stringify(server.baseUrl)}, ${JSON.stringify(DEV_API_KEY)}, "readme_${Date.now()}"));`,
    ]).trim();
    if (!/^charged 5000 as ch_[0-9a-f]{32} \(replayed: false\)$/.test(said)) fail(`the example said: ${said}`);
    console.log(
      `check:client: installed alone, declarations type-check, the README example ran in Node ${version}: ${said}`,
    );
  } finally {
    server.stop();
  }
} finally {
  rmSync(consumer, { recursive: true, force: true });
}
