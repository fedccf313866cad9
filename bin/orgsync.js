#!/usr/bin/env node
// Checks the Node version before loading anything else: on an older Node the dependencies (commander, the
// better-sqlite3 binary built for a newer Node) fail with messages that do not say the Node is the cause. So the
// program is imported dynamically, after the check, and this file keeps to syntax any Node since 12 can parse.
// Keep NEED in step with package.json's `engines`.
const NEED = [22, 12];
const have = process.versions.node.split('.').map(Number);
const major = have[0] || 0;
const minor = have[1] || 0;

if (major < NEED[0] || (major === NEED[0] && minor < NEED[1])) {
  process.stderr.write(
    'orgsync: needs Node.js ' +
      NEED.join('.') +
      ' or newer (Node 24 LTS is what it is tested on); ' +
      'this is Node ' +
      process.versions.node +
      ' (' +
      process.execPath +
      ').\n' +
      '  In a checkout of orgsync: `. scripts/node-env.sh` puts Node 24 first on PATH for this shell ' +
      "(installing it into the checkout's .node/ folder on first use), then `npm ci`.\n" +
      "  Elsewhere: install Node 24 LTS (nodejs.org, nvm install 24, or the system's packages) and put it first on PATH.\n",
  );
  process.exitCode = 1;
} else {
  import('../dist/cli/main.js')
    .then((cli) => cli.main(process.argv))
    .then(
      (code) => {
        process.exitCode = code;
      },
      (err) => {
        process.stderr.write(`orgsync: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      },
    );
}
