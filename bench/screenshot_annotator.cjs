// What an annotator sees in a real browser: logs in to Doccano's web UI as USER and opens the
// first example of their queue (PROJECT@USER), then saves a screenshot.
//   NODE_PATH=DIR/node_modules node bench/screenshot_annotator.cjs URL USER PASSWORD PROJECT_ID OUT.png
// Needs Debian's chromium and playwright-core from npm (npm install playwright-core); driven by
// bench/screenshot_annotator.py, which starts the server and pushes the tasks.
const { chromium } = require("playwright-core");

(async () => {
const [url, user, password, projectId, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.goto(`${url}/auth`);
await page.waitForSelector("input[type=password]");
await page.fill("input[type=text]", user);
await page.fill("input[type=password]", password);
await Promise.all([
  page.waitForResponse((r) => r.url().includes("/v1/auth/login") && r.status() === 200),
  page.click(".v-card button:has-text('Login')"),  // the form's button, not the header's
]);
await page.goto(`${url}/projects/${projectId}/sequence-labeling?page=1`);
await page.waitForSelector("text=拉萨市", { timeout: 60000 });
await page.waitForTimeout(2000);
await page.screenshot({ path: out });
await browser.close();
})().catch((err) => { console.error(err); process.exit(1); });
