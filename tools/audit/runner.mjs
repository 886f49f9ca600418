// Lighthouse on many pages in one Chrome, for tools/audit/audit.py.
//
//     node runner.mjs CHROME_FLAGS_JSON
//
// Starts Chrome once (CHROME_PATH, with chrome-launcher's default flags, as Lighthouse's CLI does),
// then reads one JSON request a line from stdin, {"url", "report", "categories"}, runs Lighthouse
// with its default configuration (the mobile one) on the URL, writes the JSON report to "report" and
// answers one JSON line, {} or {"error"}. Each run opens a new tab and clears the cache and storage
// before loading the page, as a run of the CLI does. Chrome stops when stdin closes or on SIGTERM.
import fs from 'node:fs';
import readline from 'node:readline';

import * as ChromeLauncher from 'chrome-launcher';
import lighthouse from 'lighthouse';

const chrome = await ChromeLauncher.launch({
  chromePath: process.env.CHROME_PATH,
  chromeFlags: JSON.parse(process.argv[2] || '[]'),
});
const stop = async () => {
  await chrome.kill();
  process.exit(143);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

for await (const line of readline.createInterface({input: process.stdin})) {
  const {url, report, categories} = JSON.parse(line);
  let reply = {};
  try {
    const result = await lighthouse(url, {port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: categories});
    fs.writeFileSync(report, result.report);
  } catch (error) {
    reply = {error: String(error && error.stack || error)};
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
await chrome.kill();
