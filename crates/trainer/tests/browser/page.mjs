// Drives the page of `trainer serve` in Debian's Chromium (puppeteer-core, no downloaded
// browser) as a person would: draws digits on the canvas with mouse strokes, then opens an
// image file (a phone's photo of a digit on paper) through the picker. Prints what the page showed as JSON; the Rust test
// (crates/trainer/tests/serve.rs) checks it.
//
//   node page.mjs URL IMAGE [SCREENSHOT.png]
import { launch } from "./chromium.mjs";

const [url, image, screenshot] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 720 });
  await page.goto(url, { waitUntil: "networkidle0" });

  const pad = await page.$("#pad");
  const box = await pad.boundingBox();
  const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
  // One stroke through `points` (fractions of the pad), as a mouse drag.
  async function stroke(points) {
    await page.mouse.move(...at(points[0]));
    await page.mouse.down();
    for (const point of points.slice(1)) await page.mouse.move(...at(point), { steps: 12 });
    await page.mouse.up();
  }
  // What the page shows once the last prediction is in (the status line empties then).
  async function reading(what) {
    try {
      await page.waitForFunction(
        () => document.getElementById("answer").textContent !== "–"
          && document.getElementById("status").textContent === "", { timeout: 60000 });
    } catch (error) {
      const shown = await page.evaluate(() => [document.getElementById("answer").textContent,
                                               document.getElementById("status").textContent]);
      throw new Error(`${what}: no reading (page shows ${JSON.stringify(shown)}): ${error.message}`);
    }
    await new Promise(r => setTimeout(r, 400));
    return page.evaluate(() => ({
      class: document.getElementById("answer").textContent,
      bars: [...document.querySelectorAll(".bar .fill")].map(f => parseFloat(f.style.width) || 0),
      highlighted: [...document.querySelectorAll(".bar.best")].map(b => b.dataset.class),
      seen: (() => {
        const data = document.getElementById("seen").getContext("2d").getImageData(0, 0, 28, 28).data;
        let ink = 0;
        for (let i = 0; i < data.length; i += 4) ink += data[i];
        return ink;
      })(),
      // Ink in the 28x28's outer two rows and columns: none for a cleaned digit in MNIST's box
      // (a photo's grey paper left in would fill them).
      seenFrame: (() => {
        const data = document.getElementById("seen").getContext("2d").getImageData(0, 0, 28, 28).data;
        let ink = 0;
        for (let i = 0; i < 28 * 28; i++) {
          const [x, y] = [i % 28, Math.floor(i / 28)];
          if (x < 2 || y < 2 || x > 25 || y > 25) ink += data[4 * i];
        }
        return ink;
      })(),
    }));
  }

  const result = {};
  // A 7: the top bar, then the long diagonal.
  await stroke([[0.22, 0.2], [0.78, 0.2], [0.45, 0.86]]);
  result.seven = await reading("the drawn 7");
  await page.click("#clear");
  // A 1: one vertical stroke.
  await stroke([[0.5, 0.15], [0.5, 0.85]]);
  result.one = await reading("the drawn 1");
  if (screenshot) await page.screenshot({ path: screenshot });
  await page.click("#clear");
  // An image file (a phone's photo of a digit on paper) through the picker.
  const input = await page.$("#file");
  await input.uploadFile(image);
  result.uploaded = await reading("the uploaded image");
  result.model = await page.$eval("#model", e => e.textContent);

  // A phone: the page fits the width (no sideways scrolling), and a finger draws a 1.
  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true,
                           deviceScaleFactor: 2 });
  await page.goto(url, { waitUntil: "networkidle0" });
  const phonePad = await (await page.$("#pad")).boundingBox();
  result.phone = await page.evaluate(() => ({
    width: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
  }));
  result.phone.pad = { left: phonePad.x, right: phonePad.x + phonePad.width, width: phonePad.width };
  const touchAt = (x, y) => [phonePad.x + x * phonePad.width, phonePad.y + y * phonePad.height];
  await page.touchscreen.touchStart(...touchAt(0.5, 0.15));
  for (let i = 1; i <= 12; i++) await page.touchscreen.touchMove(...touchAt(0.5, 0.15 + 0.7 * i / 12));
  await page.touchscreen.touchEnd();
  result.phone.reading = await reading("the 1 drawn with a finger");
  if (screenshot) await page.screenshot({ path: screenshot.replace(/\.png$/, "-phone.png") });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
