// The lots the signed-in bidder bid on (#/me), with where they stand on each, a page of
// GET /me/bids at a time; read again when their news or a reconnection says it changed.

import { focusSignIn } from "../account.js";
import { $, el, labelColumns, setText } from "../dom.js";
import * as fmt from "../format.js";
import { lotHref } from "../routes.js";
import { app } from "../state.js";

export class MyBidsPage {
  constructor() {
    /** @type {string | null} */
    this.lotId = null;
    /** @type {any[]} */
    this.items = [];
    this.cursors = [null]; // the cursor of each page shown: a refresh reads them all again
    this.next = null;
    this.reads = 0; // the latest read wins: an older answer landing late is dropped
    this.mounted = false;
  }

  /** @param {HTMLElement} main */
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
    const button = /** @type {HTMLButtonElement} */ ($("#my-bids-more", this.main));
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
      el("th", { scope: "row" }, el("a", { href: lotHref(item.lot_id) }, item.title)),
      el("td", { class: "standing-word" }, fmt.standingWord(item.status, item.reserve_met)),
      el("td", { class: "number" }, fmt.amount(item.maximum, item.currency)),
      el("td", { class: "number" }, fmt.amount(item.current_price, item.currency)),
      el("td", {}, el("time", { datetime: item.closes_at }, fmt.dateTime(item.closes_at))))));
    labelColumns(table);
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

  /** @param {any} message */
  yourNews(message) {
    if (this.items.some((item) => item.lot_id === message.lot_id)) this.refresh();
  }

  lotUpdated() {}

  tick() {}

  destroy() {
    this.mounted = false;
  }
}
