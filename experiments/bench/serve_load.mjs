// Load test of `trainer serve` (run by serve_load.sh): CLIENTS concurrent clients post the
// sample digits to /api/predict, REQUESTS in all or for at most SECONDS, on loopback only.
// Prints requests/s, latency percentiles and the failures, as a table and as JSON.
//
//   node serve_load.mjs URL DIGITS_DIR [CLIENTS=16] [REQUESTS=4000] [SECONDS=60]
import { readFileSync } from "node:fs";

const [url, digits, clients = "16", requests = "4000", seconds = "60"] = process.argv.slice(2);
if (!/^http:\/\/(127\.|localhost|\[::1\])/.test(url)) throw new Error(`loopback only, not ${url}`);
const bodies = [...Array(10).keys()].map(d => readFileSync(`${digits}/${d}.png`));
const total = Number(requests), deadline = Date.now() + 1000 * Number(seconds);
let sent = 0;
const latencies = [], failures = [];

async function client() {
  while (sent < total && Date.now() < deadline) {
    const digit = sent++ % 10;
    const start = performance.now();
    try {
      const response = await fetch(`${url}api/predict`, {
        method: "POST", headers: { "Content-Type": "image/png" }, body: bodies[digit] });
      const answer = await response.json();
      if (!response.ok) failures.push(`${response.status}: ${answer.error}`);
      else if (answer.class !== digit) failures.push(`digit ${digit} read as ${answer.class}`);
      else latencies.push(performance.now() - start);
    } catch (error) {
      failures.push(String(error));
    }
  }
}

const start = performance.now();
await Promise.all([...Array(Number(clients))].map(client));
const elapsed = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const at = q => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
const result = {
  clients: Number(clients), requests: latencies.length + failures.length, failed: failures.length,
  seconds: elapsed, requests_per_s: (latencies.length + failures.length) / elapsed,
  p50_ms: at(0.5), p99_ms: at(0.99), max_ms: latencies.at(-1) ?? NaN,
};
console.log(`| clients | requests | failed | requests/s | p50 ms | p99 ms | max ms |`);
console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
console.log(`| ${result.clients} | ${result.requests} | ${result.failed} | ${result.requests_per_s.toFixed(0)} | ` +
            `${result.p50_ms.toFixed(2)} | ${result.p99_ms.toFixed(2)} | ${result.max_ms.toFixed(2)} |`);
console.log(JSON.stringify(result));
for (const failure of failures.slice(0, 5)) console.error(`failed: ${failure}`);
process.exit(failures.length === 0 ? 0 : 1);
