// Opens the ONNX export's browser example (examples/onnx/index.html, onnxruntime-web) in
// Debian's Chromium (puppeteer-core), served over HTTP from FOLDER (the page, its node_modules,
// lenet.onnx and the MNIST test files), waits for it to read the 10 000 test images, and prints
// what it computed as JSON; the Rust test (crates/trainer/tests/onnx.rs) checks it.
//
//   node onnx.mjs FOLDER [SCREENSHOT.png]
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { launch } from "./chromium.mjs";

const [folder, screenshot] = process.argv.slice(2);
const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
                ".wasm": "application/wasm", ".onnx": "application/octet-stream",
                ".gz": "application/octet-stream" };
const server = createServer((request, response) => {
  const path = join(folder, normalize(decodeURIComponent(new URL(request.url, "http://x").pathname)));
  const file = path.endsWith("/") ? join(path, "index.html") : path;
  try {
    statSync(file);
  } catch {
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { "Content-Type": types[extname(file)] || "application/octet-stream" });
  createReadStream(file).pipe(response);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 720 });
  await page.goto(`http://127.0.0.1:${server.address().port}/`, { waitUntil: "load" });
  await page.waitForFunction(() => window.result !== undefined, { timeout: 240000 });
  const result = await page.evaluate(() => window.result);
  result.status = await page.evaluate(() => document.getElementById("status").textContent);
  if (screenshot) await page.screenshot({ path: screenshot });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
  server.close();
}
