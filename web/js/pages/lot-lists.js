// The lists of lots: the open ones, soonest to close first, with prices that follow
// pushed updates (#/), and the ended ones, most recently ended first (#/ended).

import { $, el, focusedRowLot, labelColumns, setText } from "../dom.js";
import * as fmt from "../format.js";
import { ENDED_LOTS_ROUTE, lotHref, OPEN_LOTS_ROUTE } from "../routes.js";
import { app } from "../state.js";
import { LIST_REFRESH_MS, listPrice, LiveLotsPage } from "./live-lots.js";

/** Each list's route and wording, by the status GET /lots?status= takes. */
export const LISTS = {
  open: {
    route: OPEN_LOTS_ROUTE, title: "Open lots", caption: "Open lots, soonest to close first",
    columns: ["Current price", "Bids", "Time left"],
    empty: "No lots are open right now.",
  },
  closed: {
    route: ENDED_LOTS_ROUTE, title: "Ended lots", caption: "Ended lots, most recently ended first",
    columns: ["Result", "Bids", "Ended"],
    empty: "No lots have ended yet.",
  },
};

export class LotListPage extends LiveLotsPage {
  /** @param {"open" | "closed"} status  as GET /lots?status= takes it */
  constructor(status) {
    super();
    this.status = status;
  }

  /** @param {HTMLElement} main */
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
      el("th", { scope: "row" }, el("a", { href: lotHref(lot.lot_id) }, lot.title)),
      this.status === "open" ? el("td", { class: "number" }, listPrice(lot)) : el("td", {}, fmt.outcome(lot)),
      el("td", { class: "number" }, String(lot.bid_count)),
      this.status === "open"
        ? el("td", { class: "time-left" }, el("time", { datetime: lot.closes_at }, ""))
        : el("td", {}, el("time", { datetime: lot.ended_at ?? lot.closes_at }, fmt.dateTime(lot.ended_at ?? lot.closes_at)))));
    // Rows are rebuilt on every update: keep the keyboard's place on the same lot.
    const focused = focusedRowLot();
    $("#lots tbody", this.main).replaceChildren(...rows);
    labelColumns($("#lots", this.main));
    if (focused) rows.find((row) => row.dataset.lot === focused)?.querySelector("a")?.focus();
    this.tick();
  }

  tick() {
    if (this.status !== "open") return;
    const now = Date.now();
    for (const row of this.main.querySelectorAll("tr[data-lot]")) {
      const lot = this.lots.get(/** @type {HTMLElement} */ (row).dataset.lot);
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
