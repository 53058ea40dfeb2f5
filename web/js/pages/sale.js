// A staggered sale (#/sales/<id>): its lots in closing order, each with its own close
// time and countdown, kept live like the lists; a page of GET /sales/{id} at a time ("More").

import { $, el, focusedRowLot, labelColumns, setText } from "../dom.js";
import * as fmt from "../format.js";
import { newerThanShown } from "../live.js";
import { lotHref } from "../routes.js";
import { app } from "../state.js";
import { LIST_REFRESH_MS, listPrice, LiveLotsPage } from "./live-lots.js";

export class SalePage extends LiveLotsPage {
  /** @param {string} saleId */
  constructor(saleId) {
    super();
    this.saleId = saleId;
    this.sale = null;
    this.cursors = [null]; // the cursor of each page shown: a refresh reads them all again
    this.next = null;
    this.reads = 0; // the latest read wins: an older answer landing late is dropped
  }

  /** @param {HTMLElement} main */
  mount(main) {
    document.title = "Sale — SamSold";
    main.innerHTML = `
      <p class="back"><a href="#/">← All open lots</a> · <a href="#/ended">Ended lots</a></p>
      <h1 id="sale-title">Loading sale…</h1>
      <p id="sale-summary" class="muted"></p>
      <section id="sale-registration" hidden>
        <p id="registration-state"></p>
        <button type="button" id="register" hidden>Register to bid</button>
      </section>
      <table class="lots" id="sale-lots" hidden>
        <caption class="visually-hidden">The sale's lots in closing order</caption>
        <thead><tr>
          <th scope="col" class="number">#</th><th scope="col">Lot</th><th scope="col">Status</th>
          <th scope="col" class="number">Price</th><th scope="col" class="number">Bids</th>
          <th scope="col">Closes at</th><th scope="col">Time left</th>
        </tr></thead>
        <tbody></tbody>
      </table>
      <div id="sale-actions"></div>`;
    this.main = main;
    this.mounted = true;
    this.registration = null;
    $("#register", main).addEventListener("click", () => this.register());
    // Pushes keep prices and close times live; the read every LIST_REFRESH_MS catches the rest.
    this.refreshTimer = setInterval(() => this.refresh(), LIST_REFRESH_MS);
    this.refresh();
  }

  async refresh() {
    const read = ++this.reads;
    try {
      let sale = null;
      const lots = [];
      for (const cursor of this.cursors) {
        const page = await app.api.sale(this.saleId, cursor);
        sale = page;
        lots.push(...page.items);
        if (!page.next) break;
      }
      if (sale?.registration === "approval" && app.session) {
        const mine = await app.api.myRegistrations(app.session.token);
        this.registration = mine.find((r) => r.sale_id === this.saleId) || null;
      }
      if (!this.mounted || read !== this.reads) return;
      this.show(sale, lots);
    } catch (failure) {
      if (!this.mounted || read !== this.reads) return;
      if (failure.status === 404) setText($("#sale-title", this.main), "Sale not found");
      setText($("#sale-summary", this.main), failure.status === 404 ? "There is no such sale." : `Could not load the sale: ${failure.message}`);
    }
  }

  async more() {
    const button = /** @type {HTMLButtonElement} */ ($("#sale-more", this.main));
    button.disabled = true;
    const read = ++this.reads;
    try {
      const page = await app.api.sale(this.saleId, this.sale.next);
      if (!this.mounted || read !== this.reads) return;
      const first = page.items[0]?.lot_id;
      this.cursors.push(this.sale.next);
      this.show(page, [...this.lots.values(), ...page.items]);
      // The button may be gone: keep the keyboard on the first lot the page added.
      if (first) $(`tr[data-lot="${CSS.escape(first)}"] a`, this.main)?.focus();
    } catch (failure) {
      if (!this.mounted) return;
      button.disabled = false;
      setText($("#sale-summary", this.main), `Could not load more of the sale's lots: ${failure.message}`);
    }
  }

  /**
   * @param {any} sale  the last page read (its `next` says whether there are more)
   * @param {any[]} lots  the lots of every page shown, in closing order
   */
  show(sale, lots) {
    this.sale = sale;
    this.lots = new Map(lots.map((lot) => [lot.lot_id, newerThanShown(lot, this.lots.get(lot.lot_id)) ? lot : this.lots.get(lot.lot_id)]));
    app.live.subscribe([...this.lots.keys()]);
    this.render();
  }

  async register() {
    if (!app.session) return;
    try {
      this.registration = await app.api.register(app.session.token, this.saleId);
    } catch (failure) {
      setText($("#registration-state", this.main), `Could not register: ${failure.message}`);
      return;
    }
    this.render();
  }

  sessionChanged() {
    this.registration = null;
    this.refresh();
  }

  renderRegistration() {
    const section = $("#sale-registration", this.main);
    section.hidden = this.sale.registration !== "approval";
    if (section.hidden) return;
    const registration = this.registration;
    const words = app.session ? fmt.registrationWords(registration) : "This sale needs the seller's approval to bid: sign in to register.";
    setText($("#registration-state", this.main), words);
    $("#register", this.main).hidden = !app.session || (registration !== null && registration.status !== "DECLINED");
  }

  render() {
    const sale = this.sale;
    this.renderRegistration();
    document.title = `${sale.title} — SamSold`;
    setText($("#sale-title", this.main), sale.title);
    const lots = [...this.lots.values()];
    const open = lots.filter((lot) => lot.status === "OPEN").length;
    const count = sale.lot_count ?? lots.length;
    setText($("#sale-summary", this.main), `${count} ${count === 1 ? "lot" : "lots"}, closing one after another `
      + `${sale.interval_s} s apart from ${fmt.dateTime(sale.first_closes_at)}; `
      + (sale.next ? `the first ${lots.length} shown, ${open} of them open. ` : `${open} open. `)
      + "A late bid extends only its own lot.");
    $("#sale-lots", this.main).hidden = lots.length === 0;
    const rows = lots.map((lot, index) => el("tr", { "data-lot": lot.lot_id },
      el("td", { class: "number" }, String(index + 1)),
      el("th", { scope: "row" }, el("a", { href: lotHref(lot.lot_id) }, lot.title)),
      el("td", { class: "status" }, fmt.outcome(lot) || fmt.statusWord(lot)),
      el("td", { class: "number" }, listPrice(lot)),
      el("td", { class: "number" }, String(lot.bid_count)),
      el("td", { class: "closes-at" }, el("time", { datetime: lot.closes_at }, fmt.clockTime(lot.closes_at)),
        lot.extension_count ? ` (extended from ${fmt.clockTime(lot.scheduled_closes_at)})` : ""),
      el("td", { class: "time-left" }, el("time", { datetime: lot.closes_at }, ""))));
    // Rows are rebuilt on every update: keep the keyboard's place on the same lot.
    const focused = focusedRowLot();
    $("#sale-lots tbody", this.main).replaceChildren(...rows);
    labelColumns($("#sale-lots", this.main));
    if (focused) rows.find((row) => row.dataset.lot === focused)?.querySelector("a")?.focus();
    if (sale.next) {
      const more = el("button", { type: "button", id: "sale-more" }, "More");
      more.addEventListener("click", () => this.more());
      $("#sale-actions", this.main).replaceChildren(more);
    } else {
      $("#sale-actions", this.main).replaceChildren();
    }
    this.tick();
  }

  tick() {
    if (!this.mounted) return;
    const now = Date.now();
    for (const row of this.main.querySelectorAll("#sale-lots tr[data-lot]")) {
      const lot = this.lots.get(/** @type {HTMLElement} */ (row).dataset.lot);
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
