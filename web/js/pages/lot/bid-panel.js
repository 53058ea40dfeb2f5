// The lot page's bid panel: the bid form (or why there is none), buy-it-now, the questions
// asked before a purchase or a very high bid, and each bid's way from sent to decided.
// A bid's outcome comes over the WebSocket; GET /bids/{id} is the fallback when it is slow
// or the socket was down.

import { focusSignIn, setSession } from "../../account.js";
import { withOneRetry } from "../../api.js";
import { $, el, setText } from "../../dom.js";
import * as fmt from "../../format.js";
import { app } from "../../state.js";

const OUTCOME_FALLBACK_MS = 8000;
// Said when the API throttles a bid (429): many bids at once, or this bidder's own still pending.
const BUSY = "The auction is busy right now.";

function newBidId() {
  // crypto.randomUUID needs a secure context; getRandomValues works everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * A bid sent and not yet decided.
 * @typedef {object} PendingBid
 * @property {string} amount
 * @property {string} shown  the amount as the page wrote it
 * @property {ReturnType<typeof setTimeout> | null} timer  the next look at GET /bids/{id}
 * @property {boolean} [purchase]  a buy-now, not a bid
 */

export class BidPanel {
  /** @param {import("./page.js").LotPage} page  the lot, where the visitor stands, and its refresh */
  constructor(page) {
    this.page = page;
    /** @type {Map<string, PendingBid>} */
    this.pending = new Map();
    /** @type {Set<string>} */
    this.decided = new Set(); // bids whose decision is shown (the socket may beat the POST's answer)
    this.amountEdited = false;
    /** @type {string | null} */
    this.formFor = null; // the mode the form was built for
    /** @type {string | null} */
    this.buyNowShown = null; // the buy-now price the button shows
  }

  render() {
    const lot = this.page.lot;
    const you = this.page.you;
    const body = $("#bid-body");
    const mode = !lot ? "loading" : lot.status !== "OPEN" ? `closed:${lot.status}` : app.session ? "form" : "signed-out";
    if (mode !== this.formFor) {
      this.formFor = mode;
      body.replaceChildren(...this.formContent(mode));
    }
    // The leader bids against nobody but raises their own maximum: the same form, said so.
    // (The API's status says who leads; the page only words it.)
    const leading = mode === "form" && you?.status === "LEADING";
    setText($("#bid-title"), leading ? "Raise your maximum" : "Place a bid");
    this.renderBuyNow(mode);
    if (mode === "form") {
      const minimum = lot.minimum_bid;
      setText($("#bid-currency"), lot.currency);
      setText($("#bid-submit"), leading ? "Raise your maximum" : "Place bid");
      const others = minimum ? fmt.money(minimum, lot.currency) : null;
      setText($("#bid-minimum"), leading && you.maximum
        ? `You lead with a maximum of ${fmt.money(you.maximum, lot.currency)}. To raise it, enter a higher one.`
          + (others ? ` Others must bid at least ${others}.` : "")
        : others ? `Minimum next bid: ${others}` : "");
      const input = /** @type {HTMLInputElement} */ ($("#bid-amount"));
      // Ready to send, until the visitor types: the lot's minimum for the others, and for the
      // leader the least raise of their own maximum (the lot's minimum is below it). Filled
      // again when `you` arrives after signing in, focused or not.
      const ready = leading ? you.minimum_raise ?? "" : minimum ?? "";
      if (!this.amountEdited && input.value !== ready) input.value = ready;
    }
  }

  /** @param {string} mode */
  formContent(mode) {
    if (mode === "loading") return [];
    if (mode === "signed-out") {
      const button = el("button", { type: "button" }, "Sign in to bid");
      button.addEventListener("click", focusSignIn);
      return [el("p", {}, "Sign in (at the top of the page) to bid on this lot."), button];
    }
    if (mode.startsWith("closed:")) {
      const status = mode.slice("closed:".length);
      return [el("p", {}, status === "SCHEDULED"
        ? `Bidding opens at ${fmt.dateTime(this.page.lot.opens_at)}.`
        : "Bidding on this lot has ended.")];
    }
    const input = /** @type {HTMLInputElement} */ (el("input", {
      id: "bid-amount", name: "amount", type: "text", inputmode: "decimal", autocomplete: "off",
      required: true, "aria-describedby": "bid-minimum",
    }));
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

  /** @param {string} mode */
  renderBuyNow(mode) {
    // Buy-it-now: the button while the lot offers its buy-now price (the view's
    // buy_now_price is null otherwise), to a signed-in visitor; asked once more before it goes.
    const box = $("#buy-now");
    const price = mode === "form" ? this.page.lot.buy_now_price : null;
    box.hidden = !price;
    if (!price) {
      this.buyNowShown = null;
      box.replaceChildren();
      return;
    }
    if (this.buyNowShown === price) return;
    this.buyNowShown = price;
    const button = el("button", { type: "button", id: "buy-now-button" }, `Buy now for ${fmt.money(price, this.page.lot.currency)}`);
    button.addEventListener("click", () => this.askToBuy(price));
    box.replaceChildren(el("p", { class: "hint" }, "Or buy it at once: the lot closes and is yours at this price."), button);
  }

  /** @param {string} price */
  askToBuy(price) {
    const shown = fmt.money(price, this.page.lot.currency);
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

  /**
   * @param {string} price
   * @param {string} [bidId]
   */
  async buyNow(price, bidId = newBidId()) {
    const shown = fmt.money(price, this.page.lot.currency);
    this.pending.set(bidId, { amount: price, shown, timer: null, purchase: true });
    this.showOutcome("pending", `Sending your purchase for ${shown}…`);
    let placed;
    try {
      placed = await withOneRetry(() => app.api.buyNow(app.session.token, this.page.lot.lot_id, bidId),
        (seconds) => this.showOutcome("pending", `${BUSY} Sending your purchase for ${shown} again in ${seconds} s…`));
    } catch (failure) {
      this.pending.delete(bidId);
      if (failure.status === 401) {
        this.showOutcome("error", "Your sign-in has expired or is not valid here. Sign in again, then buy.");
        setSession(null);
      } else {
        this.showOutcome("error", `Not bought: ${failure.message}.`);
        this.page.refresh();
      }
      return;
    }
    const pending = this.adopt(bidId, placed.bid_id);
    if (!pending) return; // its outcome came over the WebSocket first
    this.showOutcome("pending", `Purchase for ${shown} received; waiting for the decision…`);
    pending.timer = setTimeout(() => this.checkBid(placed.bid_id), OUTCOME_FALLBACK_MS);
  }

  /**
   * The line under the form: its kind ("pending", "accepted", "question", ...) styles it.
   * @param {string} kind
   * @param {string} text
   */
  showOutcome(kind, text) {
    const outcome = $("#bid-outcome");
    outcome.dataset.kind = kind;
    setText(outcome, text);
  }

  /** The bidder's news made the last outcome old, unless a bid is on its way or a question or purchase stands. */
  clearStaleOutcome() {
    // A purchase's "Bought" stays: lot.won is the same news.
    const kind = $("#bid-outcome").dataset.kind;
    if (this.pending.size === 0 && kind !== "question" && kind !== "bought") this.showOutcome("", "");
  }

  /**
   * @param {string} amount  as typed
   * @param {{confirm?: boolean, bidId?: string}} [options]  confirm: the answer to the API's question, for the same bid
   */
  async placeBid(amount, { confirm = false, bidId = newBidId() } = {}) {
    const lot = this.page.lot;
    if (!/^\d+(\.\d+)?$/.test(amount)) {
      this.showOutcome("error", "Enter an amount such as 12.50 (digits and a decimal point only).");
      $("#bid-amount").focus();
      return;
    }
    const shown = fmt.money(amount, lot.currency);
    this.pending.set(bidId, { amount, shown, timer: null });
    this.showOutcome("pending", `Sending your bid of ${shown}…`);
    let placed;
    try {
      placed = await withOneRetry(() => app.api.placeBid(app.session.token, lot.lot_id, amount, bidId, confirm),
        (seconds) => this.showOutcome("pending", `${BUSY} Sending your bid of ${shown} again in ${seconds} s…`));
    } catch (failure) {
      this.pending.delete(bidId);
      if (failure.status === 401) {
        this.showOutcome("error", "Your sign-in has expired or is not valid here. Sign in again, then bid.");
        setSession(null);
      } else if (failure.code === "CONFIRMATION_REQUIRED") {
        this.askToConfirm(amount, bidId, failure.details ?? {});
      } else if (failure.code === "BELOW_MINIMUM") {
        // Refused at once, never queued: said as the processor's rejection would say it.
        this.showOutcome("rejected", `Rejected: ${fmt.reason({ reason: failure.code, minimum: failure.details?.minimum_bid }, lot.currency)}`);
        this.page.refresh();
      } else if (failure.status === 429) {
        this.showOutcome("error", `${BUSY} Your bid of ${shown} was not placed: send it again in a moment.`);
      } else {
        this.showOutcome("error", `Your bid was not sent: ${failure.message}.`);
      }
      return;
    }
    const pending = this.adopt(bidId, placed.bid_id);
    if (!pending) return; // its outcome came over the WebSocket first
    this.showOutcome("pending", `Bid of ${shown} received; waiting for the decision…`);
    pending.timer = setTimeout(() => this.checkBid(placed.bid_id), OUTCOME_FALLBACK_MS);
  }

  /**
   * @param {string} amount
   * @param {string} bidId
   * @param {any} details  the API's CONFIRMATION_REQUIRED details
   */
  askToConfirm(amount, bidId, details) {
    // Nothing was recorded: the API asks whether so high a bid is meant. "Place it anyway"
    // sends the same bid (same id) again with confirm: true.
    const currency = this.page.lot.currency;
    const shown = fmt.money(amount, currency);
    const question = details.triggered_by === "cap"
      ? `Your bid of ${shown} is more than ${fmt.money(details.cap, currency)}, the most this site takes without asking. `
        + `Place ${shown} anyway?`
      : `Your bid of ${shown} is more than ${details.factor ?? 10} times the minimum bid of `
        + `${fmt.money(details.minimum_bid ?? this.page.lot.minimum_bid, currency)}. Place ${shown} anyway?`;
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

  /**
   * The API took the bid sent under the page's own key: from now on it is known by the id the
   * API answered (a key names the bidder's own bid; the id is the API's). Null when it was
   * withdrawn meanwhile or its decision is shown already.
   * @param {string} key
   * @param {string} bidId
   * @returns {PendingBid | null}
   */
  adopt(key, bidId) {
    const pending = this.pending.get(key);
    this.pending.delete(key);
    if (!pending || this.decided.has(bidId)) return null;
    this.pending.set(bidId, pending);
    return pending;
  }

  /** The socket (re)connected: ask after every bid still undecided. */
  checkPending() {
    for (const bidId of this.pending.keys()) this.checkBid(bidId);
  }

  /** @param {string} bidId */
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

  /** A bid's decision, pushed or read: said in words. @param {import("../../api.js").BidOutcome} bid */
  bidOutcome(bid) {
    const pending = this.pending.get(bid.bid_id);
    if (!pending && bid.lot_id !== this.page.lotId) return;
    if (pending) clearTimeout(pending.timer);
    this.pending.delete(bid.bid_id);
    this.decided.add(bid.bid_id);
    const currency = this.page.lot?.currency ?? "";
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
    this.render();
    if (bid.lot_id === this.page.lotId) this.page.refresh(); // the bidder's maximum and standing changed
  }

  /** The page is left: no more looks at GET /bids/{id}. */
  destroy() {
    for (const pending of this.pending.values()) clearTimeout(pending.timer);
  }
}
