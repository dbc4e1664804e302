// Writes the page's drawing pad as PNG files after the strokes page.mjs draws (a 7, a 1, and
// a few more digits), exactly as the page sends them to /api/predict: the fixtures of the
// lenet test that checks a clean drawing is turned into the same 28x28 image as before photos
// were cleaned (crates/lenet/tests/fixtures/canvas/). Needs no server: the page's own file.
//
//   node canvas.mjs PAGE.html OUT_DIR
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { launch } from "./chromium.mjs";

const [html, out] = process.argv.slice(2);
const strokes = {
  seven: [[[0.22, 0.2], [0.78, 0.2], [0.45, 0.86]]],
  one: [[[0.5, 0.15], [0.5, 0.85]]],
  four: [[[0.3, 0.15], [0.25, 0.55], [0.75, 0.55]], [[0.62, 0.3], [0.6, 0.9]]],
  zero: [[[0.5, 0.15], [0.3, 0.3], [0.28, 0.65], [0.5, 0.85], [0.7, 0.65], [0.7, 0.3], [0.5, 0.15]]],
  small_three_in_a_corner: [[[0.1, 0.1], [0.3, 0.12], [0.18, 0.22], [0.3, 0.3], [0.1, 0.38]]],
};
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 720 });
  await page.goto(pathToFileURL(html).href);
  const pad = await page.$("#pad");
  const box = await pad.boundingBox();
  const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
  for (const [name, lines] of Object.entries(strokes)) {
    await page.click("#clear");
    for (const points of lines) {
      await page.mouse.move(...at(points[0]));
      await page.mouse.down();
      for (const point of points.slice(1)) await page.mouse.move(...at(point), { steps: 12 });
      await page.mouse.up();
    }
    const url = await page.$eval("#pad", canvas => canvas.toDataURL("image/png"));
    writeFileSync(`${out}/${name}.png`, Buffer.from(url.split(",")[1], "base64"));
  }
} finally {
  await browser.close();
}
