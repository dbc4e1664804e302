// Debian's Chromium, headless, through puppeteer-core (no downloaded browser): the one launch
// the browser tests share (page.mjs, onnx.mjs).
import puppeteer from "puppeteer-core";

export function launch() {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // As root in a sandbox-less container, and without the network calls Chromium makes at start.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
