// SamSold's live lot page: the list of open lots (#/), of ended lots (#/ended), one lot
// (#/lots/<id>), the lots the signed-in bidder bid on (#/me) and a staggered sale (#/sales/<id>).
// Plain ES modules, no build step: index.html loads this file as it is.

import { Api, loadConfig } from "./api.js";
import * as fmt from "./format.js";
import { LiveConnection } from "./live.js";
import {
  loadSession, rememberReturnRoute, saveSession, sessionFromToken, takeTokenFromLocation,
} from "./session.js";

const DEV_USERS = ["alice", "bob", "carol", "dave", "erin"];
const TICK_MS = 250;
const LIST_REFRESH_MS = 15000;
const OUTCOME_FALLBACK_MS = 8000;

const app = { config: null, api: null, live: null, session: null, page: null };

// -- small DOM helpers -------------------------------------------------------------------

function $(selector, root = document) {
  return root.querySelector(selector);
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

function newBidId() {
  // crypto.randomUUID needs a secure context; getRandomValues works everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// -- the connection indicator and the account box --------------------------------------

const CONNECTION_WORDS = {
  connecting: "Connecting…",
  online: "Live",
  offline: "Offline: reconnecting…",
};

function showConnection(state) {
  const indicator = $("#connection");
  indicator.dataset.state = state;
  setText(indicator, CONNECTION_WORDS[state]);
}

function renderAccount() {
  const box = $("#account");
  box.replaceChildren();
  if (app.session) {
    const signOut = el("button", { type: "button", class: "secondary" }, "Sign out");
    signOut.addEventListener("click", () => setSession(null));
    const myBids = el("a", { href: MY_BIDS_ROUTE, class: "my-bids-link" }, "My bids");
    if (location.hash === MY_BIDS_ROUTE) myBids.setAttribute("aria-current", "page");
    box.append(myBids, el("p", { class: "signed-in" }, "Signed in as ", el("strong", {}, app.session.name)), signOut);
    return;
  }
  const error = el("p", { class: "form-error", role: "alert", id: "sign-in-error" });
  const form = el("form", { class: "sign-in", id: "sign-in", "aria-label": "Sign in" });
  if (app.config.devTokens) {
    const select = el("select", { id: "dev-user", name: "user" },
      ...DEV_USERS.map((user) => el("option", { value: user }, user)));
    form.append(el("label", { for: "dev-user" }, "Development user"), select,
      el("button", { type: "submit" }, "Sign in"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      setText(error, "");
      try {
        setSession(sessionFromToken(await app.api.devToken(select.value)));
      } catch (failure) {
        setText(error, `Could not sign in: ${failure.message}`);
      }
    });
  } else {
    const input = el("input", { id: "id-token", name: "token", type: "password", autocomplete: "off", spellcheck: "false" });
    form.append(el("label", { for: "id-token" }, "Cognito ID token"), input, el("button", { type: "submit" }, "Sign in"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const session = sessionFromToken(input.value.trim());
      if (!session) {
        setText(error, "That is not a valid, unexpired ID token.");
        return;
      }
      setSession(session);
    });
    if (app.config.signInUrl) {
      const link = el("a", { href: app.config.signInUrl, class: "hosted-ui" }, "Sign in with Cognito");
      link.addEventListener("click", rememberReturnRoute);
      form.append(link);
    }
  }
  box.append(form, error);
}

function setSession(session) {
  app.session = session;
  saveSession(session);
  renderAccount();
  app.page?.sessionChanged?.();
  app.live.watch(app.page?.lotId ?? null, session?.token ?? null);
  // The control that was used is gone: carry on where it makes sense.
  ($("#bid-amount") ?? $("#account button, #account select"))?.focus();
}

function focusSignIn() {
  $("#account select, #account input, #account button")?.focus();
}

// -- the lists of lots: open ones (#/) and ended ones (#/ended) -----------------------------

const LISTS = {
  open: {
    route: "#/", title: "Open lots", caption: "Open lots, soonest to close first",
    columns: ["Current price", "Bids", "Time left"],
    empty: "No lots are open right now.",
  },
  closed: {
    route: "#/ended", title: "Ended lots", caption: "Ended lots, most recently ended first",
    columns: ["Result", "Bids", "Ended"],
    empty: "No lots have ended yet.",
  },
};

// A page of several lots kept live: read again on (re)connecting, and each lot it shows
// replaced by an update newer than the one shown (subclasses give refresh and render).
class LiveLotsPage {
  constructor() {
    this.lotId = null;
    this.lots = new Map();
    this.refreshTimer = null;
    this.mounted = false;
  }

  connected() {
    this.refresh();
  }

  lotUpdated(lot) {
    const known = this.lots.get(lot.lot_id);
    if (!known || !newerThanShown(lot, known)) return;
    this.lots.set(lot.lot_id, lot);
    this.render();
  }
}

class LotListPage extends LiveLotsPage {
  constructor(status) {
    super();
    this.status = status; // "open" or "closed", as GET /lots?status= takes it
  }

  mount(main) {
    const list = LISTS[this.status];
    document.title = `${list.title} — SamSold`;
    main.innerHTML = `
      <nav class="list-switch" aria-label="Lists of lots">
        ${Object.values(LISTS).map((other) => `<a href="${other.route}"${other === list ? ' aria-current="page"' : ""}>${other.title}</a>`).join("")}
      </nav>
      <h1>${list.title}</h1>
      <p id="lots-summary" class="muted">Loading…</p>
      <table class="lots" id="lots">
        <caption class="visually-hidden">${list.caption}</caption>
        <thead><tr>
          <th scope="col">Lot</th><th scope="col"${this.status === "open" ? ' class="number"' : ""}>${list.columns[0]}</th>
          <th scope="col" class="number">${list.columns[1]}</th><th scope="col">${list.columns[2]}</th>
        </tr></thead>
        <tbody></tbody>
      </table>`;
    this.main = main;
    this.mounted = true;
    // Ended lots do not change: only the open list refreshes and follows prices live.
    if (this.status === "open") this.refreshTimer = setInterval(() => this.refresh(), LIST_REFRESH_MS);
    this.refresh();
  }

  async refresh() {
    try {
      const lots = await app.api.lots(this.status);
      // The visitor may have moved on while the list was loading: this page's elements are
      // gone then, and its lots must not be subscribed for the page that replaced it.
      if (!this.mounted) return;
      this.lots = new Map(lots.map((lot) => [lot.lot_id, lot]));
      if (this.status === "open") app.live.subscribe([...this.lots.keys()]);
      this.render();
    } catch (failure) {
      if (!this.mounted) return;
      setText($("#lots-summary", this.main), `Could not load the lots: ${failure.message}`);
    }
  }

  render() {
    const lots = [...this.lots.values()];
    if (this.status === "open") lots.sort((a, b) => a.closes_at.localeCompare(b.closes_at));
    const open = lots.filter((lot) => lot.status === "OPEN").length;
    setText($("#lots-summary", this.main), lots.length === 0
      ? LISTS[this.status].empty
      : this.status === "open"
        ? `${open} open ${open === 1 ? "lot" : "lots"}. Prices update live.`
        : `The ${lots.length} most recently ended ${lots.length === 1 ? "lot" : "lots"}.`);
    $("#lots", this.main).hidden = lots.length === 0;
    const rows = lots.map((lot) => el("tr", { "data-lot": lot.lot_id },
      el("th", { scope: "row" }, el("a", { href: `#/lots/${encodeURIComponent(lot.lot_id)}` }, lot.title)),
      this.status === "open" ? el("td", { class: "number" }, listPrice(lot)) : el("td", {}, fmt.outcome(lot)),
      el("td", { class: "number" }, String(lot.bid_count)),
      this.status === "open"
        ? el("td", { class: "time-left" }, el("time", { datetime: lot.closes_at }, ""))
        : el("td", {}, el("time", { datetime: lot.ended_at ?? lot.closes_at }, fmt.dateTime(lot.ended_at ?? lot.closes_at)))));
    // Rows are rebuilt on every update: keep the keyboard's place on the same lot.
    const focused = document.activeElement?.closest?.("tr[data-lot]")?.dataset.lot;
    $("#lots tbody", this.main).replaceChildren(...rows);
    if (focused) rows.find((row) => row.dataset.lot === focused)?.querySelector("a")?.focus();
    this.tick();
  }

  tick() {
    if (this.status !== "open") return;
    const now = Date.now();
    for (const row of this.main.querySelectorAll("tr[data-lot]")) {
      const lot = this.lots.get(row.dataset.lot);
      const left = Date.parse(lot.closes_at) - now;
      setText($("time", row), lot.status !== "OPEN" ? fmt.statusWord(lot) : left > 0 ? fmt.duration(left) : "Closing…");
    }
  }

  destroy() {
    this.mounted = false;
    clearInterval(this.refreshTimer);
    app.live.subscribe([]);
  }
}

function listPrice(lot) {
  return lot.current_price === null
    ? `${fmt.money(lot.starting_price, lot.currency)} (starting price)`
    : fmt.money(lot.current_price, lot.currency);
}

// -- one lot ------------------------------------------------------------------------------

const LOT_TEMPLATE = `
  <p class="back"><a href="#/">← All open lots</a> · <a href="#/ended">Ended lots</a><span id="lot-sale" hidden> · <a id="lot-sale-link">This lot's sale</a></span></p>
  <article class="lot" aria-labelledby="lot-title">
    <div class="lot-header">
      <h1 id="lot-title">Loading lot…</h1>
      <p class="badge" id="lot-status"></p>
    </div>
    <p id="lot-error" class="form-error" role="alert"></p>
    <div class="lot-grid">
      <section class="panel facts" aria-labelledby="facts-title">
        <h2 id="facts-title" class="visually-hidden">Now</h2>
        <dl>
          <div class="fact fact-price" id="fact-price"><dt id="t-price">Current price</dt><dd id="lot-price" aria-labelledby="t-price"></dd></div>
          <div class="fact" id="fact-leader"><dt id="t-leader">Leader</dt><dd id="lot-leader" aria-labelledby="t-leader"></dd></div>
          <div class="fact fact-price" id="fact-outcome" hidden><dt id="t-outcome">Outcome</dt><dd id="lot-outcome" aria-labelledby="t-outcome"></dd></div>
          <div class="fact"><dt id="t-bids">Bids</dt><dd id="lot-bids" aria-labelledby="t-bids"></dd></div>
          <div class="fact"><dt id="t-left">Time left</dt><dd><time id="lot-countdown" role="timer" aria-labelledby="t-left"></time></dd></div>
        </dl>
        <p id="lot-you" class="standing"></p>
        <p id="lot-closes-at" class="muted"></p>
        <p id="lot-extended" class="notice" role="status"></p>
        <p id="lot-reserve" class="muted"></p>
      </section>
      <section id="lot-result" class="panel result" role="status" aria-labelledby="result-title" hidden>
        <h2 id="result-title">Result</h2>
        <p id="lot-result-text"></p>
      </section>
      <section class="panel" id="bid-panel" aria-labelledby="bid-title">
        <h2 id="bid-title">Place a bid</h2>
        <div id="bid-body"></div>
        <div id="buy-now" hidden></div>
        <p id="bid-outcome" class="outcome" role="status"></p>
      </section>
      <section class="panel history" aria-labelledby="history-title">
        <h2 id="history-title">Bid history</h2>
        <p id="history-note" class="muted"></p>
        <table id="history">
          <caption class="visually-hidden">Bids on this lot, newest first</caption>
          <thead><tr><th scope="col">Bidder</th><th scope="col" class="number">Amount</th><th scope="col">Placed at</th></tr></thead>
          <tbody></tbody>
        </table>
      </section>
    </div>
    <p id="lot-announce" class="visually-hidden" aria-live="polite"></p>
    <p id="you-news" class="visually-hidden" aria-live="polite"></p>
  </article>`;

class LotPage {
  constructor(lotId) {
    this.lotId = lotId;
    this.lot = null;
    // Where the signed-in visitor stands (the API's `you`), and the lot version it was read
    // with: pushed updates are public, so `you` is only as fresh as the last signed-in read.
    this.you = null;
    this.youVersion = null;
    this.reading = false;
    this.readAgain = false;
    this.pending = new Map(); // bid_id -> {amount, timer}
    this.amountEdited = false;
    this.bidFormFor = null;
    this.buyNowShown = null; // the buy-now price the button shows
    this.lastClosePoll = 0;
    this.mounted = false;
  }

  mount(main) {
    main.innerHTML = LOT_TEMPLATE;
    this.main = main;
    this.mounted = true;
    this.renderBidForm();
    this.refresh();
  }

  async refresh() {
    // One read at a time, and one more after it for whatever asked meanwhile: a burst of
    // pushes costs at most two reads, and an older answer never lands after a newer one.
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.readAgain = false;
        await this.read();
      } while (this.readAgain && this.mounted);
    } finally {
      this.reading = false;
    }
  }

  async read() {
    const token = app.session?.token ?? null;
    try {
      const lot = await app.api.lot(this.lotId, token);
      if (!this.mounted) return; // the visitor left this lot while it loaded
      // Read as someone who has since signed out (or in): `you` is not theirs. Read again.
      if (token !== (app.session?.token ?? null)) this.readAgain = true;
      this.apply(lot, token ? lot.you ?? null : null);
      setText($("#lot-error"), "");
    } catch (failure) {
      if (!this.mounted) return;
      if (failure.status === 401 && token) {
        // The API refuses the whole read for a bad token: sign out, then read as anyone.
        setText($("#lot-error"), "Your sign-in has expired or is not valid here. Sign in again.");
        if (app.session?.token === token) setSession(null);
        this.readAgain = true;
        return;
      }
      setText($("#lot-error"), failure.status === 404
        ? "There is no such lot."
        : `Could not load the lot: ${failure.message}`);
      if (failure.status === 404) setText($("#lot-title"), "Lot not found");
    }
  }

  connected() {
    // The socket subscribed on connect: whatever changed while it was down is in this read.
    this.refresh();
    for (const bidId of this.pending.keys()) this.checkBid(bidId);
  }

  lotUpdated(lot) {
    if (lot.lot_id !== this.lotId || !newerThanShown(lot, this.lot)) return;
    this.apply(lot);
    // The push is the public view: where a bidder of this lot stands may have changed with it.
    if (this.you && app.session) this.refresh();
  }

  /** The bidder's own news about this lot (bid.outbid, lot.won, lot.lost): say it, and read `you` again. */
  yourNews(message) {
    setText($("#you-news"), fmt.news(message, this.lot?.currency ?? ""));
    // The last bid's outcome ("you lead…") is old news now, unless a bid is still on its way.
    // A purchase's "Bought" stays: lot.won is the same news.
    const kind = $("#bid-outcome").dataset.kind;
    if (this.pending.size === 0 && kind !== "question" && kind !== "bought") this.showOutcome("", "");
    const line = $("#lot-you");
    line.classList.remove("flash");
    void line.offsetWidth; // restart the animation
    line.classList.add("flash");
    this.refresh();
  }

  apply(lot, you = undefined) {
    const previous = this.lot;
    if (previous && lot.version < previous.version) return; // an older read arriving late
    this.lot = lot;
    if (you !== undefined) {
      // A REST read: its `you` is the latest (null when signed out or never bid here).
      this.you = you;
      this.youVersion = lot.version;
    }
    // `you` read with another version may name the wrong leader: it only words its own line.
    const freshYou = this.youVersion === lot.version ? this.you : null;
    document.title = `${lot.title} — SamSold`;
    setText($("#lot-title"), lot.title);
    // A lot of a staggered sale links back to the sale's page.
    $("#lot-sale").hidden = !lot.sale_id;
    if (lot.sale_id) $("#lot-sale-link").setAttribute("href", `#/sales/${encodeURIComponent(lot.sale_id)}`);
    const badge = $("#lot-status");
    badge.dataset.status = lot.status;
    setText(badge, fmt.statusWord(lot));
    setText($("#lot-price"), lot.current_price === null
      ? `${fmt.money(lot.starting_price, lot.currency)} to start`
      : fmt.money(lot.current_price, lot.currency));
    setText($("#lot-leader"), fmt.leader(lot, freshYou));
    // Once bidding is over, the outcome takes the place of the price and the leader.
    const outcome = fmt.outcome(lot, freshYou);
    $("#fact-price").hidden = $("#fact-leader").hidden = Boolean(outcome);
    $("#fact-outcome").hidden = !outcome;
    setText($("#lot-outcome"), outcome);
    setText($("#lot-bids"), String(lot.bid_count));
    const countdown = $("#lot-countdown");
    countdown.setAttribute("datetime", lot.closes_at);
    // A lot bought at its buy-now price ended before its close time: when it was bought.
    const endedAt = lot.ended_at && lot.ended_at < lot.closes_at ? lot.ended_at : lot.closes_at;
    setText($("#lot-closes-at"), lot.status === "CLOSED" || lot.status === "CANCELLED"
      ? `Bidding ended ${lot.status === "CLOSED" ? `at ${fmt.dateTime(endedAt)}` : "early"}.`
      : `Closes at ${fmt.dateTime(lot.closes_at)}${lot.hard_close_at ? `, ${fmt.dateTime(lot.hard_close_at)} at the latest` : ""}.`);
    this.renderExtension(previous, lot);
    setText($("#lot-reserve"), !lot.has_reserve ? "" : lot.reserve_met ? "The reserve price has been met." : "The reserve price has not been met yet.");
    this.renderStanding();
    const result = fmt.result(lot, freshYou);
    $("#lot-result").hidden = !result;
    setText($("#lot-result-text"), result);
    this.renderHistory(lot);
    if (previous && previous.version !== lot.version) this.announce(previous, lot);
    this.renderBidForm();
    this.tick();
  }

  renderExtension(previous, lot) {
    const notice = $("#lot-extended");
    if (lot.extension_count === 0) {
      setText(notice, "");
      return;
    }
    const times = lot.extension_count === 1 ? "once" : `${lot.extension_count} times`;
    setText(notice, `Extended by soft close (${times}): late bids moved the close from `
      + `${fmt.clockTime(lot.scheduled_closes_at)} to ${fmt.clockTime(lot.closes_at)}.`);
    if (previous && previous.closes_at !== lot.closes_at) {
      notice.classList.remove("flash");
      void notice.offsetWidth; // restart the animation
      notice.classList.add("flash");
    }
  }

  renderHistory(lot) {
    const rows = [...lot.recent_bids].reverse().map((bid) => el("tr", {},
      el("td", {}, bid.bidder),
      el("td", { class: "number" }, fmt.money(bid.amount, lot.currency)),
      el("td", {}, el("time", { datetime: bid.placed_at }, fmt.clockTime(bid.placed_at)))));
    $("#history tbody").replaceChildren(...rows);
    $("#history").hidden = rows.length === 0;
    setText($("#history-note"), rows.length === 0
      ? "No bids yet."
      : lot.bid_count > rows.length ? `The latest ${rows.length} of ${lot.bid_count} bids.` : "");
  }

  announce(previous, lot) {
    let words = "";
    if (lot.status !== previous.status && fmt.result(lot)) words = fmt.result(lot);
    else if (lot.current_price !== previous.current_price) {
      words = `New price ${fmt.money(lot.current_price, lot.currency)}; ${lot.leader} leads.`;
    } else if (lot.closes_at !== previous.closes_at) words = `Extended: now closes at ${fmt.clockTime(lot.closes_at)}.`;
    if (words) setText($("#lot-announce"), words);
  }

  renderStanding() {
    const line = $("#lot-you");
    const you = app.session ? this.you : null;
    line.dataset.status = you?.status ?? "";
    setText(line, fmt.standing(you, this.lot));
  }

  sessionChanged() {
    // Signed out: forget `you` at once; signed in: read it.
    this.you = null;
    this.youVersion = null;
    if (this.lot) this.apply(this.lot);
    this.renderBidForm();
    this.refresh();
  }

  renderBidForm() {
    const lot = this.lot;
    const body = $("#bid-body");
    const mode = !lot ? "loading" : lot.status !== "OPEN" ? `closed:${lot.status}` : app.session ? "form" : "signed-out";
    if (mode !== this.bidFormFor) {
      this.bidFormFor = mode;
      body.replaceChildren(...this.bidFormContent(mode));
    }
    // The leader bids against nobody but raises their own maximum: the same form, said so.
    // (The API's status says who leads; the page only words it.)
    const leading = mode === "form" && this.you?.status === "LEADING";
    setText($("#bid-title"), leading ? "Raise your maximum" : "Place a bid");
    this.renderBuyNow(mode);
    if (mode === "form") {
      const minimum = lot.minimum_bid;
      setText($("#bid-currency"), lot.currency);
      setText($("#bid-submit"), leading ? "Raise your maximum" : "Place bid");
      const others = minimum ? fmt.money(minimum, lot.currency) : null;
      setText($("#bid-minimum"), leading && this.you.maximum
        ? `You lead with a maximum of ${fmt.money(this.you.maximum, lot.currency)}. To raise it, enter a higher one.`
          + (others ? ` Others must bid at least ${others}.` : "")
        : others ? `Minimum next bid: ${others}` : "");
      const input = $("#bid-amount");
      // The lot's minimum is below a leader's own maximum: offer it only to the others.
      if (!this.amountEdited && document.activeElement !== input) input.value = leading ? "" : minimum ?? "";
    }
  }

  bidFormContent(mode) {
    if (mode === "loading") return [];
    if (mode === "signed-out") {
      const button = el("button", { type: "button" }, "Sign in to bid");
      button.addEventListener("click", focusSignIn);
      return [el("p", {}, "Sign in (at the top of the page) to bid on this lot."), button];
    }
    if (mode.startsWith("closed:")) {
      const status = mode.slice("closed:".length);
      return [el("p", {}, status === "SCHEDULED"
        ? `Bidding opens at ${fmt.dateTime(this.lot.opens_at)}.`
        : "Bidding on this lot has ended.")];
    }
    const input = el("input", {
      id: "bid-amount", name: "amount", type: "text", inputmode: "decimal", autocomplete: "off",
      required: true, "aria-describedby": "bid-minimum",
    });
    input.addEventListener("input", () => { this.amountEdited = input.value.trim() !== ""; });
    const form = el("form", { id: "bid-form", novalidate: true },
      el("label", { for: "bid-amount" }, "Your maximum bid in ", el("span", { id: "bid-currency" })),
      el("div", { class: "bid-row" }, input, el("button", { type: "submit", id: "bid-submit" }, "Place bid")),
      el("p", { id: "bid-minimum", class: "hint" }),
      el("p", { class: "hint" }, "We bid for you, only as far as needed to keep you ahead, up to your maximum. Nobody else sees it."));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.placeBid(input.value.trim());
    });
    return [form];
  }

  renderBuyNow(mode) {
    // Buy-it-now: the button while the lot offers its buy-now price (the view's
    // buy_now_price is null otherwise), to a signed-in visitor; asked once more before it goes.
    const box = $("#buy-now");
    const price = mode === "form" ? this.lot.buy_now_price : null;
    box.hidden = !price;
    if (!price) {
      this.buyNowShown = null;
      box.replaceChildren();
      return;
    }
    if (this.buyNowShown === price) return;
    this.buyNowShown = price;
    const button = el("button", { type: "button", id: "buy-now-button" }, `Buy now for ${fmt.money(price, this.lot.currency)}`);
    button.addEventListener("click", () => this.askToBuy(price));
    box.replaceChildren(el("p", { class: "hint" }, "Or buy it at once: the lot closes and is yours at this price."), button);
  }

  askToBuy(price) {
    const shown = fmt.money(price, this.lot.currency);
    const yes = el("button", { type: "button" }, "Yes, buy it");
    const no = el("button", { type: "button", class: "cancel" }, "Cancel");
    yes.addEventListener("click", () => this.buyNow(price));
    no.addEventListener("click", () => {
      this.showOutcome("", "");
      $("#buy-now-button")?.focus();
    });
    const outcome = $("#bid-outcome");
    outcome.dataset.kind = "question";
    outcome.replaceChildren(el("span", { id: "buy-question" }, `Buy this lot now for ${shown}? Bidding ends and you pay ${shown}.`),
      el("span", { class: "confirm-actions", role: "group", "aria-labelledby": "buy-question" }, yes, no));
    yes.focus();
  }

  async buyNow(price, bidId = newBidId()) {
    const shown = fmt.money(price, this.lot.currency);
    this.pending.set(bidId, { amount: price, shown, timer: null, purchase: true });
    this.showOutcome("pending", `Sending your purchase for ${shown}…`);
    try {
      await app.api.buyNow(app.session.token, this.lot.lot_id, bidId);
    } catch (failure) {
      this.pending.delete(bidId);
      if (failure.status === 401) {
        this.showOutcome("error", "Your sign-in has expired or is not valid here. Sign in again, then buy.");
        setSession(null);
      } else {
        this.showOutcome("error", `Not bought: ${failure.message}.`);
        this.refresh();
      }
      return;
    }
    const pending = this.pending.get(bidId);
    if (!pending) return; // its outcome came over the WebSocket first
    this.showOutcome("pending", `Purchase for ${shown} received; waiting for the decision…`);
    pending.timer = setTimeout(() => this.checkBid(bidId), OUTCOME_FALLBACK_MS);
  }

  showOutcome(kind, text) {
    const outcome = $("#bid-outcome");
    outcome.dataset.kind = kind;
    setText(outcome, text);
  }

  async placeBid(amount, { confirm = false, bidId = newBidId() } = {}) {
    const lot = this.lot;
    if (!/^\d+(\.\d+)?$/.test(amount)) {
      this.showOutcome("error", "Enter an amount such as 12.50 (digits and a decimal point only).");
      $("#bid-amount").focus();
      return;
    }
    const shown = fmt.money(amount, lot.currency);
    this.pending.set(bidId, { amount, shown, timer: null });
    this.showOutcome("pending", `Sending your bid of ${shown}…`);
    try {
      await app.api.placeBid(app.session.token, lot.lot_id, amount, bidId, confirm);
    } catch (failure) {
      this.pending.delete(bidId);
      if (failure.status === 401) {
        this.showOutcome("error", "Your sign-in has expired or is not valid here. Sign in again, then bid.");
        setSession(null);
      } else if (failure.code === "CONFIRMATION_REQUIRED") {
        this.askToConfirm(amount, bidId, failure.details ?? {});
      } else {
        this.showOutcome("error", `Your bid was not sent: ${failure.message}.`);
      }
      return;
    }
    const pending = this.pending.get(bidId);
    if (!pending) return; // its outcome came over the WebSocket first
    this.showOutcome("pending", `Bid of ${shown} received; waiting for the decision…`);
    pending.timer = setTimeout(() => this.checkBid(bidId), OUTCOME_FALLBACK_MS);
  }

  askToConfirm(amount, bidId, details) {
    // Nothing was recorded: the API asks whether so high a bid is meant. "Place it anyway"
    // sends the same bid (same id) again with confirm: true.
    const currency = this.lot.currency;
    const question = details.triggered_by === "cap"
      ? `That is more than ${fmt.money(details.cap, currency)}, the most this site takes without asking. Place it anyway?`
      : `That is more than ${details.factor ?? 10} times the minimum bid of `
        + `${fmt.money(details.minimum_bid ?? this.lot.minimum_bid, currency)}. Place it anyway?`;
    const yes = el("button", { type: "button" }, "Place it anyway");
    const no = el("button", { type: "button", class: "cancel" }, "Cancel");
    yes.addEventListener("click", () => this.placeBid(amount, { confirm: true, bidId }));
    no.addEventListener("click", () => {
      this.showOutcome("", "");
      $("#bid-amount")?.focus();
    });
    const outcome = $("#bid-outcome");
    outcome.dataset.kind = "question";
    outcome.replaceChildren(el("span", { id: "bid-question" }, question),
      el("span", { class: "confirm-actions", role: "group", "aria-labelledby": "bid-question" }, yes, no));
    yes.focus();
  }

  async checkBid(bidId) {
    // Only when the WebSocket has not told us: after a reconnect, or when it is slow.
    if (!this.pending.has(bidId) || !app.session) return;
    try {
      const status = await app.api.bidStatus(app.session.token, bidId);
      if (status.status !== "PENDING") this.bidOutcome(status);
      else this.pending.get(bidId).timer = setTimeout(() => this.checkBid(bidId), OUTCOME_FALLBACK_MS);
    } catch {
      /* the next reconnect or timer tries again */
    }
  }

  bidOutcome(bid) {
    const pending = this.pending.get(bid.bid_id);
    if (!pending && bid.lot_id !== this.lotId) return;
    if (pending) clearTimeout(pending.timer);
    this.pending.delete(bid.bid_id);
    const currency = this.lot?.currency ?? "";
    const shown = fmt.money(bid.amount, currency);
    if (pending?.purchase) {
      if (bid.status === "ACCEPTED") this.showOutcome("bought", `Bought: the lot is yours for ${shown}.`);
      else this.showOutcome("rejected", `Not bought: ${fmt.reason(bid, currency)}`);
    } else if (bid.status === "ACCEPTED" && bid.leading === false) {
      // A maximum below the leader's is recorded, and the leader's maximum answers it.
      const price = bid.current_price ? ` The price is now ${fmt.money(bid.current_price, currency)}.` : "";
      this.showOutcome("outbid", `Accepted, but another bidder's earlier maximum is higher than your ${shown}.${price}`);
    } else if (bid.status === "ACCEPTED") {
      const price = bid.current_price ? ` at ${fmt.money(bid.current_price, currency)}` : "";
      this.showOutcome("accepted", `Accepted: you lead${price}, with a maximum of ${shown}.`);
    } else {
      this.showOutcome("rejected", `Rejected: ${fmt.reason(bid, currency)}`);
    }
    this.amountEdited = false;
    this.renderBidForm();
    if (bid.lot_id === this.lotId) this.refresh(); // the bidder's maximum and standing changed
  }

  tick() {
    const lot = this.lot;
    if (!lot) return;
    const countdown = $("#lot-countdown");
    const now = Date.now();
    let text;
    if (lot.status === "CLOSED") text = "Closed";
    else if (lot.status === "CANCELLED") text = "Cancelled";
    else if (lot.status === "SCHEDULED") text = `Opens in ${fmt.duration(Date.parse(lot.opens_at) - now)}`;
    else {
      const left = Date.parse(lot.closes_at) - now;
      text = left > 0 ? fmt.duration(left) : "Closing…";
      countdown.dataset.urgent = String(left > 0 && left < 60000);
      // Closing is decided by a sweep after a grace period: look again now and then.
      if (left <= 0 && now - this.lastClosePoll > 5000) {
        this.lastClosePoll = now;
        this.refresh();
      }
    }
    setText(countdown, text);
  }

  destroy() {
    this.mounted = false;
    for (const pending of this.pending.values()) clearTimeout(pending.timer);
  }
}

// -- the lots the signed-in bidder bid on (#/me) ----------------------------------------------

const MY_BIDS_ROUTE = "#/me";

class MyBidsPage {
  constructor() {
    this.lotId = null;
    this.items = [];
    this.cursors = [null]; // the cursor of each page shown: a refresh reads them all again
    this.next = null;
    this.reads = 0; // the latest read wins: an older answer landing late is dropped
    this.mounted = false;
  }

  mount(main) {
    document.title = "My bids — SamSold";
    main.innerHTML = `
      <p class="back"><a href="#/">← All open lots</a> · <a href="#/ended">Ended lots</a></p>
      <h1>My bids</h1>
      <p id="my-bids-summary" class="muted">Loading…</p>
      <table class="lots" id="my-bids" hidden>
        <caption class="visually-hidden">The lots you bid on, with where you stand</caption>
        <thead><tr>
          <th scope="col">Lot</th><th scope="col">Where you stand</th><th scope="col" class="number">Your maximum</th>
          <th scope="col" class="number">Current price</th><th scope="col">Close time</th>
        </tr></thead>
        <tbody></tbody>
      </table>
      <div id="my-bids-actions"></div>`;
    this.main = main;
    this.mounted = true;
    this.refresh();
  }

  async refresh() {
    if (!app.session) {
      this.items = [];
      this.next = null;
      this.render();
      return;
    }
    const read = ++this.reads;
    try {
      const items = [];
      let next = null;
      for (const cursor of this.cursors) {
        const page = await app.api.myBids(app.session.token, cursor);
        items.push(...page.items);
        next = page.next;
        if (!next) break;
      }
      if (!this.mounted || read !== this.reads) return;
      this.items = items;
      this.next = next;
      this.render();
    } catch (failure) {
      if (!this.mounted || read !== this.reads) return;
      setText($("#my-bids-summary", this.main), `Could not load your bids: ${failure.message}`);
    }
  }

  async more() {
    const button = $("#my-bids-more", this.main);
    button.disabled = true;
    try {
      const page = await app.api.myBids(app.session.token, this.next);
      if (!this.mounted) return;
      const first = page.items[0]?.lot_id;
      this.cursors.push(this.next);
      this.items.push(...page.items);
      this.next = page.next;
      this.render();
      // The button may be gone: keep the keyboard on the first lot the page added.
      if (first) $(`tr[data-lot="${CSS.escape(first)}"] a`, this.main)?.focus();
    } catch (failure) {
      if (!this.mounted) return;
      button.disabled = false;
      setText($("#my-bids-summary", this.main), `Could not load more of your bids: ${failure.message}`);
    }
  }

  render() {
    const summary = $("#my-bids-summary", this.main);
    const table = $("#my-bids", this.main);
    const actions = $("#my-bids-actions", this.main);
    if (!app.session) {
      setText(summary, "Sign in (at the top of the page) to see the lots you bid on.");
      table.hidden = true;
      const button = el("button", { type: "button" }, "Sign in");
      button.addEventListener("click", focusSignIn);
      actions.replaceChildren(button);
      return;
    }
    setText(summary, this.items.length === 0
      ? "You have not bid on any lot yet."
      : `${this.items.length} ${this.items.length === 1 ? "lot" : "lots"} you bid on${this.next ? " so far" : ""}.`);
    table.hidden = this.items.length === 0;
    // The items carry no currency: their amounts show as the API writes them unless it does.
    $("tbody", table).replaceChildren(...this.items.map((item) => el("tr", { "data-lot": item.lot_id, "data-status": item.status },
      el("th", { scope: "row" }, el("a", { href: `#/lots/${encodeURIComponent(item.lot_id)}` }, item.title)),
      el("td", { class: "standing-word" }, fmt.standingWord(item.status)),
      el("td", { class: "number" }, fmt.amount(item.maximum, item.currency)),
      el("td", { class: "number" }, fmt.amount(item.current_price, item.currency)),
      el("td", {}, el("time", { datetime: item.closes_at }, fmt.dateTime(item.closes_at))))));
    if (this.next) {
      const more = el("button", { type: "button", id: "my-bids-more" }, "More");
      more.addEventListener("click", () => this.more());
      actions.replaceChildren(more);
    } else {
      actions.replaceChildren();
    }
  }

  connected() {
    this.refresh(); // news pushed while the socket was down is in this read
  }

  sessionChanged() {
    this.cursors = [null];
    this.refresh();
  }

  yourNews(message) {
    if (this.items.some((item) => item.lot_id === message.lot_id)) this.refresh();
  }

  lotUpdated() {}

  tick() {}

  destroy() {
    this.mounted = false;
  }
}

// -- the bidder's news about lots they are not looking at ------------------------------------

const YOUR_NEWS = new Set(["bid.outbid", "lot.won", "lot.lost", "bid.retracted", "bid.leading"]);
const latestNews = new Map(); // lot id -> the number of its latest news: older reads lose

async function showNotice(message) {
  const number = (latestNews.get(message.lot_id) ?? 0) + 1;
  latestNews.set(message.lot_id, number);
  // The push names the lot only: its title and currency come from its public view.
  let lot = null;
  try {
    lot = await app.api.lot(message.lot_id);
  } catch {
    /* the notice still links to the lot */
  }
  if (latestNews.get(message.lot_id) !== number) return; // newer news of this lot came meanwhile
  if (app.page?.lotId === message.lot_id) return; // the visitor went there meanwhile
  const currency = lot?.currency;
  const link = el("a", { href: `#/lots/${encodeURIComponent(message.lot_id)}` }, lot?.title ?? "a lot you bid on");
  const words = message.type === "bid.outbid"
    ? ["You have been outbid on ", link, `: the price is now ${fmt.amount(message.current_price, currency)}.`]
    : message.type === "bid.retracted"
      ? ["An administrator withdrew your bid on ", link, `: ${message.reason}`]
    : message.type === "bid.leading"
      ? ["You lead again on ", link, ` at ${fmt.amount(message.current_price, currency)}: a higher bid was withdrawn.`]
    : message.type === "lot.won"
      ? ["You won ", link, ` for ${fmt.amount(message.price, currency)}.`]
      : ["Bidding has ended: you did not win ", link, "."];
  const dismiss = el("button", { type: "button", class: "dismiss", "aria-label": `Dismiss: ${lot?.title ?? "notice"}` }, "Dismiss");
  const notice = el("div", { class: "news", "data-lot": message.lot_id, "data-type": message.type },
    el("p", {}, ...words), dismiss);
  dismiss.addEventListener("click", () => {
    notice.remove();
    $("#main").focus(); // the button is gone: carry on where the content is
  });
  // One notice a lot: the newest news replaces the older.
  dropNotices(message.lot_id);
  $("#notices").append(notice);
}

function dropNotices(lotId) {
  for (const notice of document.querySelectorAll("#notices .news")) {
    if (notice.dataset.lot === lotId) notice.remove();
  }
}

// A pushed update can arrive after a newer one: a large audience is served by several
// invocations (docs/ARCHITECTURE.md, "How a bid becomes events"), and a page of watchers
// handed to another one may be posted after the lot's next update. Show only newer versions.
function newerThanShown(lot, shown) {
  return !shown || lot.version > shown.version;
}

// -- a staggered sale (#/sales/<id>): its lots in closing order ----------------------------

class SalePage extends LiveLotsPage {
  constructor(saleId) {
    super();
    this.saleId = saleId;
    this.sale = null;
  }

  mount(main) {
    document.title = "Sale — SamSold";
    main.innerHTML = `
      <p class="back"><a href="#/">← All open lots</a> · <a href="#/ended">Ended lots</a></p>
      <h1 id="sale-title">Loading sale…</h1>
      <p id="sale-summary" class="muted"></p>
      <table class="lots" id="sale-lots" hidden>
        <caption class="visually-hidden">The sale's lots in closing order</caption>
        <thead><tr>
          <th scope="col" class="number">#</th><th scope="col">Lot</th><th scope="col">Status</th>
          <th scope="col" class="number">Price</th><th scope="col" class="number">Bids</th>
          <th scope="col">Closes at</th><th scope="col">Time left</th>
        </tr></thead>
        <tbody></tbody>
      </table>`;
    this.main = main;
    this.mounted = true;
    // Pushes keep prices and close times live; the read every LIST_REFRESH_MS catches the rest.
    this.refreshTimer = setInterval(() => this.refresh(), LIST_REFRESH_MS);
    this.refresh();
  }

  async refresh() {
    try {
      const sale = await app.api.sale(this.saleId);
      if (!this.mounted) return;
      this.sale = sale;
      this.lots = new Map(sale.lots.map((lot) => [lot.lot_id, newerThanShown(lot, this.lots.get(lot.lot_id)) ? lot : this.lots.get(lot.lot_id)]));
      app.live.subscribe([...this.lots.keys()]);
      this.render();
    } catch (failure) {
      if (!this.mounted) return;
      if (failure.status === 404) setText($("#sale-title", this.main), "Sale not found");
      setText($("#sale-summary", this.main), failure.status === 404 ? "There is no such sale." : `Could not load the sale: ${failure.message}`);
    }
  }

  render() {
    const sale = this.sale;
    document.title = `${sale.title} — SamSold`;
    setText($("#sale-title", this.main), sale.title);
    const lots = [...this.lots.values()];
    const open = lots.filter((lot) => lot.status === "OPEN").length;
    setText($("#sale-summary", this.main), `${lots.length} ${lots.length === 1 ? "lot" : "lots"}, closing one after another `
      + `${sale.interval_s} s apart from ${fmt.dateTime(sale.first_closes_at)}; ${open} open. `
      + "A late bid extends only its own lot.");
    $("#sale-lots", this.main).hidden = lots.length === 0;
    const rows = lots.map((lot, index) => el("tr", { "data-lot": lot.lot_id },
      el("td", { class: "number" }, String(index + 1)),
      el("th", { scope: "row" }, el("a", { href: `#/lots/${encodeURIComponent(lot.lot_id)}` }, lot.title)),
      el("td", { class: "status" }, fmt.outcome(lot) || fmt.statusWord(lot)),
      el("td", { class: "number" }, listPrice(lot)),
      el("td", { class: "number" }, String(lot.bid_count)),
      el("td", { class: "closes-at" }, el("time", { datetime: lot.closes_at }, fmt.clockTime(lot.closes_at)),
        lot.extension_count ? ` (extended from ${fmt.clockTime(lot.scheduled_closes_at)})` : ""),
      el("td", { class: "time-left" }, el("time", { datetime: lot.closes_at }, ""))));
    // Rows are rebuilt on every update: keep the keyboard's place on the same lot.
    const focused = document.activeElement?.closest?.("tr[data-lot]")?.dataset.lot;
    $("#sale-lots tbody", this.main).replaceChildren(...rows);
    if (focused) rows.find((row) => row.dataset.lot === focused)?.querySelector("a")?.focus();
    this.tick();
  }

  tick() {
    if (!this.mounted) return;
    const now = Date.now();
    for (const row of this.main.querySelectorAll("#sale-lots tr[data-lot]")) {
      const lot = this.lots.get(row.dataset.lot);
      const left = Date.parse(lot.closes_at) - now;
      setText($(".time-left time", row), lot.status !== "OPEN" ? fmt.statusWord(lot) : left > 0 ? fmt.duration(left) : "Closing…");
    }
  }

  destroy() {
    this.mounted = false;
    clearInterval(this.refreshTimer);
    app.live.subscribe([]);
  }
}

// -- routing and start-up --------------------------------------------------------------

function route() {
  const match = location.hash.match(/^#\/lots\/([^/?#]+)$/);
  const lotId = match ? decodeURIComponent(match[1]) : null;
  if (app.page && app.page.lotId === lotId && lotId !== null) return;
  app.page?.destroy();
  if (lotId) dropNotices(lotId); // the lot itself now says it
  const myBidsLink = $("#account .my-bids-link");
  if (location.hash === MY_BIDS_ROUTE) myBidsLink?.setAttribute("aria-current", "page");
  else myBidsLink?.removeAttribute("aria-current");
  const saleMatch = location.hash.match(/^#\/sales\/([^/?#]+)$/);
  if (lotId) app.page = new LotPage(lotId);
  else if (saleMatch) app.page = new SalePage(decodeURIComponent(saleMatch[1]));
  else if (location.hash === MY_BIDS_ROUTE) app.page = new MyBidsPage();
  else app.page = new LotListPage(location.hash === LISTS.closed.route ? "closed" : "open");
  const main = $("#main");
  app.page.mount(main);
  app.live.watch(lotId, app.session?.token ?? null);
}

function onMessage(message) {
  if ((message.type === "lot.updated" || message.type === "subscribed") && message.lot) {
    app.page?.lotUpdated(message.lot);
  } else if (message.type === "bid.outcome" && message.bid) {
    app.page?.bidOutcome?.(message.bid);
  } else if (YOUR_NEWS.has(message.type) && message.lot_id) {
    if (app.page?.lotId === message.lot_id) {
      app.page.yourNews(message);
    } else {
      showNotice(message);
      app.page?.yourNews?.(message);
    }
  }
}

async function start() {
  try {
    app.config = await loadConfig();
  } catch (failure) {
    $("#main").replaceChildren(el("h1", {}, "SamSold is not configured"),
      el("p", { role: "alert" }, `This page reads its API addresses from config.json next to it: ${failure.message}.`));
    showConnection("offline");
    return;
  }
  app.api = new Api(app.config.rest);
  const returned = takeTokenFromLocation();
  app.session = returned ? sessionFromToken(returned) : loadSession();
  saveSession(app.session);
  app.live = new LiveConnection(app.config.websocket, {
    onMessage,
    onState: showConnection,
    onOpen: () => app.page?.connected(),
  });
  renderAccount();
  window.addEventListener("hashchange", () => {
    route();
    $("#main").focus();
  });
  setInterval(() => app.page?.tick(), TICK_MS);
  route();
}

start();
