// The storefront in headless Chromium against the embedded runner that
// scripts/check-storefront started (PAGE_URL). The tests run in order, as
// one shopper: signed out, then signed in, then buying.
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

const require = createRequire(`${process.env.NODE_MODULES}/`);
const { chromium } = require("playwright-core");

const PAGE_URL = process.env.PAGE_URL;
const API = new URL("/api", PAGE_URL).href;
const SHOTS = process.env.SHOTS;
const merchandiser = { Authorization: `Bearer ${process.env.MERCHANDISER_TOKEN}` };
const SKU = "muskie-casting-rod";

let browser;
let page;
// The tokens the issuer gave the page at sign-in.
let issued;

async function stock() {
  const answer = await fetch(`${API}/inventory/${SKU}`, { headers: merchandiser });
  assert.equal(answer.status, 200);
  return (await answer.json()).available;
}

async function setStock(available) {
  const answer = await fetch(`${API}/inventory/${SKU}`, {
    method: "PUT",
    headers: { ...merchandiser, "Content-Type": "application/json" },
    body: JSON.stringify({ available }),
  });
  assert.equal(answer.status, 200);
}

// The catalog item as the merchandiser sets it. The demo's limit of 2 rods
// per customer is raised while this one shopper buys a rod per test.
const item = { title: "Muskie casting rod", priceCents: 24900, currency: "USD", active: true, maxPerCustomer: 20 };

async function setItem(changes) {
  Object.assign(item, changes);
  const answer = await fetch(`${API}/catalog/${SKU}`, {
    method: "PUT",
    headers: { ...merchandiser, "Content-Type": "application/json" },
    body: JSON.stringify(item),
  });
  assert.equal(answer.status, 200);
}

const setPrice = (priceCents) => setItem({ priceCents });

const status = () => page.locator("#status");

async function buyAndWaitForDecision() {
  await page.locator("#buy").click();
  await status().filter({ hasText: /Confirmed|Sold out|could not|price has changed|may buy/ }).waitFor({ timeout: 30000 });
  return status().textContent();
}

before(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ["--no-sandbox"] });
  // A phone-sized viewport: the page must work there.
  page = await browser.newPage({ viewport: { width: 412, height: 860 }, deviceScaleFactor: 1 });
  page.on("pageerror", (error) => console.error("page error:", error));
});

after(async () => {
  await browser?.close();
});

test("signed out, the page asks to sign in", async () => {
  await page.goto(PAGE_URL);
  await page.locator("#who").filter({ hasText: "Not signed in" }).waitFor();
  assert.equal(await page.locator("#title").textContent(), "Muskie casting rod", "the title is the catalog's");
  assert.equal(await page.locator("#price").textContent(), "$249.00", "the price is the catalog's");
  assert.equal(await page.locator("#stock").textContent(), "Sign in to see live stock");
  await page.locator("#buy").click();
  await status().filter({ hasText: "Please sign in" }).waitFor();
  assert.equal(await status().getAttribute("aria-live"), "polite");
  assert.equal(await page.evaluate(() => document.activeElement.id), "sign-in", "focus moves to Sign in");
  await page.screenshot({ path: `${SHOTS}/signed-out.png`, fullPage: true });
});

// Every entry of the page's sessionStorage and localStorage, as "key=value".
async function webStorage() {
  return page.evaluate(() =>
    [sessionStorage, localStorage].flatMap((store) =>
      Object.keys(store).map((key) => `${key}=${store.getItem(key)}`),
    ),
  );
}

// What the legacy shop's scripts could read on this origin holds no token.
async function assertNoTokenInWebStorage(when) {
  const entries = await webStorage();
  for (const token of [issued.access_token, issued.id_token, issued.refresh_token].filter(Boolean)) {
    assert.ok(!entries.some((entry) => entry.includes(token)), `${when}: a token is in Web Storage: ${entries}`);
  }
  const jwt = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/;
  assert.ok(!entries.some((entry) => jwt.test(entry)), `${when}: a JWT is in Web Storage: ${entries}`);
  assert.ok(!entries.some((entry) => /(access|id|refresh)_token/.test(entry)), `${when}: ${entries}`);
}

test("sign in through the runner's issuer (code + PKCE) and see the stock", async () => {
  await page.locator("#sign-in").click();
  await page.waitForURL(/\/oidc\/authorize/);
  await page.getByLabel("Sign in as customer id").fill("angler-1842");
  const tokens = page.waitForResponse((r) => r.url().endsWith("/oidc/token"));
  await page.getByRole("button", { name: "Sign in" }).click();
  issued = await (await tokens).json();
  assert.ok(issued.access_token && issued.id_token, "the issuer gave tokens");
  await page.waitForURL(PAGE_URL);
  await page.locator("#who").filter({ hasText: "Signed in as angler-1842" }).waitFor();
  const before = await stock();
  await page.locator("#stock").filter({ hasText: `${before} left` }).waitFor();
});

test("buy: one order, CONFIRMED, and the stock one lower", async () => {
  await setItem({});
  const before = await stock();
  const text = await buyAndWaitForDecision();
  assert.match(text, /Confirmed/);
  assert.equal(await stock(), before - 1);
  await page.locator("#stock").filter({ hasText: `${before - 1} left` }).waitFor();
  await page.screenshot({ path: `${SHOTS}/confirmed.png`, fullPage: true });
});

test("signed in and after an order, no token is in Web Storage; a reload signs in again without the form", async () => {
  await assertNoTokenInWebStorage("after the order");
  const visited = [];
  const listener = (request) => request.isNavigationRequest() && visited.push(request.url());
  page.on("request", listener);
  await page.reload();
  await page.locator("#who").filter({ hasText: "Signed in as angler-1842" }).waitFor();
  page.off("request", listener);
  assert.ok(visited.some((url) => /\/oidc\/authorize\?.*prompt=none/.test(url)), `the issuer was asked: ${visited}`);
  assert.equal(await page.getByLabel("Sign in as customer id").count(), 0, "no sign-in form");
  await page.locator("#stock").filter({ hasText: / left$/ }).waitFor();
  await assertNoTokenInWebStorage("after the reload");
});

test("the price changed since the page showed it: nothing ordered, the new price shown, and asked again", async () => {
  const before = await stock();
  await setPrice(26900);
  const text = await buyAndWaitForDecision();
  assert.match(text, /price has changed to \$269\.00.*Nothing was ordered/);
  assert.equal(await page.locator("#price").textContent(), "$269.00");
  assert.equal(await stock(), before, "the refused order reserved nothing");
  assert.equal(await page.locator("#buy").textContent(), "Buy now");
  const order = page.waitForResponse((r) => r.url().endsWith("/api/orders") && r.request().method() === "POST");
  assert.match(await buyAndWaitForDecision(), /Confirmed/);
  assert.equal((await (await order).json()).totalCents, 26900, "bought at the price shown");
  // Back to the demo's price: the page, still showing $269.00, learns it the
  // same way, and the next test starts from the catalog's price.
  await setPrice(24900);
  assert.match(await buyAndWaitForDecision(), /price has changed to \$249\.00.*Nothing was ordered/);
  assert.equal(await page.locator("#price").textContent(), "$249.00");
});

test("a double click on Buy places one order", async () => {
  const before = await stock();
  const posts = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && request.url().endsWith("/api/orders")) posts.push(request);
  });
  await page.locator("#buy").dblclick();
  await status().filter({ hasText: "Confirmed" }).waitFor({ timeout: 30000 });
  assert.equal(posts.length, 1, "one POST /api/orders");
  assert.equal(await stock(), before - 1);
});

test("the answer lost mid-purchase: the retry reuses the key and finds the same order", async () => {
  const before = await stock();
  const keys = [];
  let lost = 0;
  await page.route("**/api/orders", async (route) => {
    keys.push(route.request().headers()["idempotency-key"]);
    if (lost < 2) {
      lost += 1;
      // The first order reaches the API, then the connection drops; the
      // second try finds the API down.
      if (lost === 1) await route.fetch();
      await route.abort("connectionreset");
    } else {
      await route.continue();
    }
  });
  const text = await buyAndWaitForDecision();
  await page.unroute("**/api/orders");
  assert.match(text, /Confirmed/);
  assert.equal(keys.length, 3, "two failed tries, then one that got through");
  assert.ok(keys.every((key) => key && key === keys[0]), `one Idempotency-Key for the attempt: ${keys}`);
  assert.equal(await stock(), before - 1, "one order, no duplicate");
});

test("the API unreachable: the page says network trouble and that retrying is safe", async () => {
  const before = await stock();
  await page.route("**/api/orders", (route) => route.abort("connectionrefused"));
  const text = await buyAndWaitForDecision();
  assert.match(text, /Network trouble.*Retrying is safe/);
  await page.unroute("**/api/orders");
  assert.equal(await page.locator("#buy").textContent(), "Retry purchase");
  assert.match(await buyAndWaitForDecision(), /Confirmed/);
  assert.equal(await stock(), before - 1);
});

test("over the purchase limit: the order is REJECTED and the page says so, not sold out", async () => {
  const before = await stock();
  await setItem({ maxPerCustomer: 1 });
  const text = await buyAndWaitForDecision();
  await setItem({ maxPerCustomer: 20 });
  assert.match(text, /the most of these one customer may buy.*not been charged/);
  assert.doesNotMatch(text, /Sold out/);
  assert.equal(await stock(), before, "the refused order holds no rod");
  assert.equal(await page.locator("#buy").textContent(), "Buy now");
});

test("the last rod gone while buying: the order is REJECTED and the page says sold out", async () => {
  await setStock(0);
  // The page still believes in stock (its last look), so Buy is pressed.
  await page.route("**/api/inventory/**", (route) =>
    route.fulfill({ contentType: "application/json", body: JSON.stringify({ sku: SKU, available: 3, reserved: 0 }) }),
  );
  await page.reload();
  await page.locator("#stock").filter({ hasText: "3 left" }).waitFor();
  const text = await buyAndWaitForDecision();
  await page.unroute("**/api/inventory/**");
  assert.match(text, /Sold out/);
  assert.equal(await stock(), 0);
});

test("stock 0: the page says sold out", async () => {
  await setStock(0);
  await page.reload();
  await page.locator("#stock").filter({ hasText: "Sold out" }).waitFor();
  assert.equal(await page.locator("#buy").isDisabled(), true);
  await page.screenshot({ path: `${SHOTS}/sold-out.png`, fullPage: true });
  await setStock(100);
});
