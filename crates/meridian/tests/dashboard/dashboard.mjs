// Loads Meridian's dashboard in Debian's headless Chromium and reports what a person would
// see, as JSON on stdout: the graph's nodes and edges (with their live RPS), the canary
// splits, the replica rows. Saves a screenshot. Usage:
//   node dashboard.mjs URL SCREENSHOT.png
// CHROMIUM overrides the browser path (default /usr/bin/chromium). Never downloads a browser.
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node dashboard.mjs URL SCREENSHOT.png");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(url, { waitUntil: "load", timeout: 30000 });
  // The page marks itself ready after its first successful poll; then wait (bounded) until
  // some edge carries traffic, as the test generates it.
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
  await page.waitForFunction(
    () => typeof cy !== "undefined" && cy.edges().some((e) => e.data("rps") > 0),
    null,
    { timeout: 30000, polling: 500 },
  );
  // Let the layout settle and one more poll land before looking.
  await page.waitForTimeout(2500);
  const seen = await page.evaluate(() => ({
    nodes: cy.nodes().map((n) => ({ id: n.id(), kind: n.data("kind"), label: n.data("label") })),
    edges: cy.edges().map((e) => ({
      source: e.data("source"),
      target: e.data("target"),
      rps: e.data("rps"),
      label: e.data("label"),
    })),
    splits: [...document.querySelectorAll("#splits .split")].map((s) => s.innerText),
    replicas: document.querySelectorAll("#replicas tbody tr").length,
    distributions: [...document.querySelectorAll("#cdn tbody tr")].map((r) =>
      [...r.cells].map((c) => c.textContent),
    ),
    status: document.getElementById("status").textContent,
    cdn: [...document.scripts].map((s) => s.src).filter((s) => s && !s.startsWith(location.origin)),
  }));
  await page.screenshot({ path: screenshot, fullPage: false });
  console.log(JSON.stringify({ ...seen, errors }));
} finally {
  await browser.close();
}
