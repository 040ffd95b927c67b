// The muskie rod's page: sign-in through the issuer the API trusts
// (oidc-client-ts, authorization code with PKCE), title and price from the
// catalog, live stock, and a purchase that is safe to retry. Its settings come from config.json beside it, so
// these files are the same locally and in AWS.
//
// Tokens live in this page's memory only, never in Web Storage: the legacy
// shop's pages share the origin, and any of their scripts could read
// sessionStorage or localStorage. A reload forgets them; the page then
// signs in again through a redirect that the issuer's own session answers
// at once (its cookie, on the issuer's domain, which no page here can read).
"use strict";

(function () {
  const product = document.getElementById("product");
  const sku = product.dataset.sku;
  const buyButton = document.getElementById("buy");
  const statusLine = document.getElementById("status");
  const stockLine = document.getElementById("stock");
  const titleLine = document.getElementById("title");
  const priceLine = document.getElementById("price");
  const who = document.getElementById("who");
  const signInButton = document.getElementById("sign-in");
  const signOutButton = document.getElementById("sign-out");

  const STOCK_REFRESH_MS = 3000;
  // Only that this tab signed in (no token): after a reload, sign in again.
  const SIGNED_IN = "storefront.signed-in";
  const PLACE_TRIES = 4;
  const FOLLOW_LIMIT_MS = 60000;

  let config;
  let users;
  let busy = false;
  let soldOut = false;
  // The catalog item as shown: the order is placed at this price, and the
  // API refuses it (409 price-changed) if the catalog's is another.
  let shown = null;
  // One purchase attempt: its Idempotency-Key is made once and sent again
  // on every retry, so a retry after a lost answer finds the same order.
  let attempt = null;

  class SignInNeeded extends Error {}
  class NetworkTrouble extends Error {}
  class Refused extends Error {
    constructor(status, message, problem) {
      super(message);
      this.status = status;
      this.problem = problem;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function say(message, tone) {
    statusLine.textContent = message;
    statusLine.className = "status" + (tone ? " " + tone : "");
  }

  function showBuyButton() {
    buyButton.disabled = busy || soldOut || !shown;
    buyButton.setAttribute("aria-busy", String(busy));
    buyButton.textContent = soldOut ? "Sold out" : attempt ? "Retry purchase" : "Buy now";
  }

  async function signedInUser() {
    const user = await users.getUser();
    return user && !user.expired ? user : null;
  }

  async function api(path, user, init) {
    const headers = Object.assign({ Authorization: "Bearer " + user.access_token }, (init && init.headers) || {});
    let response;
    try {
      response = await fetch(config.apiBase + path, Object.assign({}, init, { headers, cache: "no-store" }));
    } catch (error) {
      throw new NetworkTrouble(error.message);
    }
    if (response.status === 401) throw new SignInNeeded();
    if (response.status >= 500 || response.status === 429) throw new NetworkTrouble("HTTP " + response.status);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Refused(response.status, body.detail || body.title || "HTTP " + response.status, body);
    return body;
  }

  function money(cents, currency) {
    return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(cents / 100);
  }

  function show(item) {
    shown = item;
    titleLine.textContent = item.title;
    document.title = item.title + " · Black Friday";
    priceLine.textContent = money(item.priceCents, item.currency);
    showBuyButton();
  }

  // The catalog is public: no token, and cacheable for 30 seconds.
  async function loadCatalogItem() {
    let response;
    try {
      response = await fetch(config.apiBase + "/catalog/" + encodeURIComponent(sku));
    } catch (error) {
      priceLine.textContent = "Unavailable (network trouble)";
      return;
    }
    const item = await response.json().catch(() => null);
    if (response.ok && item && item.active) {
      show(item);
    } else {
      shown = null;
      priceLine.textContent = "Not for sale";
      showBuyButton();
    }
  }

  async function refreshStock() {
    const user = await signedInUser();
    if (!user) {
      stockLine.textContent = "Sign in to see live stock";
      return;
    }
    try {
      const stock = await api("/inventory/" + encodeURIComponent(sku), user);
      soldOut = stock.available <= 0;
      stockLine.textContent = soldOut ? "Sold out" : stock.available + " left";
    } catch (error) {
      if (error instanceof Refused && error.status === 404) {
        soldOut = true;
        stockLine.textContent = "Sold out";
      } else if (!(error instanceof NetworkTrouble)) {
        stockLine.textContent = "Sign in to see live stock";
      }
    }
    showBuyButton();
  }

  async function place(user) {
    const body = JSON.stringify({
      currency: shown.currency,
      lines: [{ sku, quantity: 1, unitPriceCents: shown.priceCents }],
    });
    let lastTrouble;
    for (let tryNumber = 0; tryNumber < PLACE_TRIES; tryNumber += 1) {
      if (tryNumber > 0) await sleep(500 * 2 ** (tryNumber - 1));
      try {
        return await api("/orders", user, {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": attempt.key },
          body,
        });
      } catch (error) {
        if (!(error instanceof NetworkTrouble)) throw error;
        lastTrouble = error;
      }
    }
    throw lastTrouble;
  }

  // The line over the customer's purchase limit when that is why the saga
  // rejected the order (its OrderRejected says so), else null.
  async function overLimit(orderId, user) {
    try {
      const history = await api("/orders/" + encodeURIComponent(orderId) + "/events", user);
      const rejected = history.events.find((e) => e.eventType === "OrderRejected");
      if (!rejected || rejected.data.reason !== "limit-exceeded") return null;
      const shortages = rejected.data.shortages || [];
      return shortages.find((line) => line.kind === "limit" && line.sku === sku) || null;
    } catch (error) {
      if (error instanceof NetworkTrouble) return null;
      throw error;
    }
  }

  // Follows the order until the inventory saga decides, with backoff.
  async function follow(orderId, user) {
    const started = Date.now();
    let delay = 250;
    while (Date.now() - started < FOLLOW_LIMIT_MS) {
      await sleep(delay);
      delay = Math.min(delay * 1.6, 3000);
      try {
        const order = await api("/orders/" + encodeURIComponent(orderId), user);
        if (order.status !== "PLACED") return order;
      } catch (error) {
        if (!(error instanceof NetworkTrouble)) throw error;
        say("Network trouble while checking your order; still trying…", "bad");
      }
    }
    return null;
  }

  async function buy() {
    if (busy) return;
    busy = true;
    showBuyButton();
    try {
      const user = await signedInUser();
      if (!user) throw new SignInNeeded();
      if (!attempt) attempt = { key: crypto.randomUUID() };
      say("Placing your order…");
      const placed = await place(user);
      say("Order placed. Waiting for the warehouse to confirm…");
      const order = await follow(placed.orderId, user);
      attempt = null;
      if (!order) {
        say("Your order is placed and still being processed. We will e-mail you when it is confirmed.");
      } else if (order.status === "CONFIRMED") {
        say("Confirmed! Your muskie rod is reserved (order " + order.orderId.slice(0, 8) + ").", "ok");
      } else if (order.status === "REJECTED") {
        const limit = await overLimit(order.orderId, user);
        if (limit) {
          say(
            "You already have the most of these one customer may buy" +
              (limit.available > 0 ? " (" + limit.available + " more at most)" : "") +
              ". You have not been charged.",
            "bad",
          );
        } else {
          soldOut = true;
          say("Sold out: the last rods went while you were buying. You have not been charged.", "bad");
        }
      } else {
        say("Your order is " + order.status.toLowerCase() + ".");
      }
    } catch (error) {
      if (error instanceof SignInNeeded) {
        attempt = null;
        say("Please sign in to buy.", "bad");
        signInButton.hidden = false;
        signInButton.focus();
      } else if (error instanceof NetworkTrouble) {
        say("Network trouble: we could not reach the shop. Retrying is safe: you will not get two rods.", "bad");
      } else if (error instanceof Refused && error.problem.type === "/problems/price-changed") {
        // Nothing was ordered. Show the catalog's price and ask again: a new
        // attempt (a new key), since the order now shows another price.
        attempt = null;
        const line = (error.problem.errors || []).find((e) => Number.isInteger(e.currentPriceCents));
        if (line) show(Object.assign({}, shown, { priceCents: line.currentPriceCents }));
        say(
          "The price has changed to " + money(shown.priceCents, shown.currency) +
            ". Nothing was ordered: press Buy now to buy at the new price.",
          "bad",
        );
      } else {
        attempt = null;
        say("We could not take this order: " + error.message, "bad");
      }
    } finally {
      busy = false;
      showBuyButton();
      refreshStock();
    }
  }

  async function showAccount() {
    const user = await signedInUser();
    who.textContent = user ? "Signed in as " + user.profile.sub : "Not signed in";
    signInButton.hidden = Boolean(user);
    signOutButton.hidden = !user;
  }

  async function start() {
    try {
      const answer = await fetch("config.json", { cache: "no-store" });
      config = await answer.json();
    } catch (error) {
      say("The shop is unreachable right now (network trouble). Reload to try again.", "bad");
      return;
    }
    const page = location.origin + location.pathname;
    users = new oidc.UserManager({
      authority: new URL(config.authority, location.href).href,
      client_id: config.clientId,
      redirect_uri: page,
      response_type: "code",
      scope: config.scope || "openid",
      userStore: new oidc.WebStorageStateStore({ store: new oidc.InMemoryWebStorage() }),
      // A sign-in under way must outlive the redirect to the issuer and
      // back: its state and PKCE verifier wait in this tab's sessionStorage
      // (not the library's default, localStorage) and are removed when it
      // completes. They are not tokens: the verifier is worth something
      // only with that sign-in's one-time code, for a minute.
      stateStore: new oidc.WebStorageStateStore({ store: window.sessionStorage }),
      // Renewed before expiry with the refresh token when the issuer gives
      // one (Cognito does; it stays in memory too). Never through a hidden
      // iframe: no silent_redirect_uri, and the CSP allows no frames.
      // Without a refresh token the page asks to sign in once one expires.
      automaticSilentRenew: true,
    });
    const query = new URLSearchParams(location.search);
    if (query.has("code") || query.has("error")) {
      try {
        await users.signinRedirectCallback();
        sessionStorage.setItem(SIGNED_IN, "1");
      } catch (error) {
        // login_required: the issuer's session had ended; simply signed out.
        if (error.error !== "login_required") say("Sign-in did not complete: " + error.message, "bad");
      }
      history.replaceState(null, "", page);
    } else if (sessionStorage.getItem(SIGNED_IN)) {
      // Reloaded: the tokens went with the old page. One quiet try (the mark
      // is removed first, so an issuer that asks cannot start a loop).
      sessionStorage.removeItem(SIGNED_IN);
      try {
        await users.signinRedirect({ prompt: "none" });
        return;
      } catch (error) {
        // The issuer did not answer: the page carries on signed out.
      }
    }
    signInButton.addEventListener("click", () => users.signinRedirect());
    signOutButton.addEventListener("click", async () => {
      sessionStorage.removeItem(SIGNED_IN);
      await users.removeUser();
      await showAccount();
      await refreshStock();
      signInButton.focus();
    });
    buyButton.addEventListener("click", buy);
    await loadCatalogItem();
    await showAccount();
    await refreshStock();
    showBuyButton();
    setInterval(() => {
      if (!busy) refreshStock();
    }, STOCK_REFRESH_MS);
  }

  start();
})();
