// Lighthouse on many pages in one Chrome, for tools/audit/audit.py.
//
//     node runner.mjs CHROME_FLAGS_JSON
//
// Starts Chrome once (CHROME_PATH, with chrome-launcher's default flags, as Lighthouse's CLI does),
// then reads one JSON request a line from stdin, {"url", "report", "categories", "audits", "flags"},
// runs Lighthouse with its default configuration (the mobile one) on the URL, writes the JSON report
// to "report" and answers one JSON line, {} or {"error"}. A run collects every audit of the
// "categories" named and the "audits" named (Lighthouse's onlyAudits: a category is scored from the
// audits it keeps, so performance from its metrics alone scores as in a full run); "flags" are further
// Lighthouse flags, as its CLI takes them (e.g. {"throttling": {"cpuSlowdownMultiplier": 2}}).
// Each run opens a new tab and clears the cache and storage before loading the page, as a run of the
// CLI does. Chrome stops when stdin closes or on SIGTERM.
import fs from 'node:fs';
import readline from 'node:readline';

import * as ChromeLauncher from 'chrome-launcher';
import lighthouse, {defaultConfig} from 'lighthouse';

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

/** The ids of the audits of the categories named, in Lighthouse's default configuration. */
const auditsOf = categories => categories.flatMap(name => {
  if (!defaultConfig.categories[name]) throw new Error(`no category ${name} in Lighthouse's configuration`);
  return defaultConfig.categories[name].auditRefs.map(ref => ref.id);
});

for await (const line of readline.createInterface({input: process.stdin})) {
  const {url, report, categories = [], audits = [], flags = {}} = JSON.parse(line);
  let reply = {};
  try {
    const onlyAudits = [...new Set([...auditsOf(categories), ...audits])];
    const result = await lighthouse(url, {...flags, onlyAudits, port: chrome.port, output: 'json', logLevel: 'error'});
    fs.writeFileSync(report, result.report);
  } catch (error) {
    reply = {error: String(error && error.stack || error)};
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
await chrome.kill();
