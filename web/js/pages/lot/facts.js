// What the lot page shows of the lot itself: its title and status, price and leader (or,
// once bidding is over, the outcome), close time and soft-close extensions, reserve,
// result, bid history, and the words a screen reader hears when a push changes them.
// `you` (where the signed-in visitor stands) is passed only when it was read with the
// version shown, so that "(you)" never names the wrong bidder.

import { $, el, flash, setText } from "../../dom.js";
import * as fmt from "../../format.js";
import { saleHref } from "../../routes.js";

/** @typedef {import("../../api.js").LotView} LotView */
/** @typedef {import("../../api.js").YourStanding} YourStanding */

/**
 * The facts panel: everything but where the visitor stands (page.js words that line).
 * @param {LotView | null} previous  the lot shown before, if any
 * @param {LotView} lot
 * @param {YourStanding | null} you
 */
export function showFacts(previous, lot, you) {
  document.title = `${lot.title} — SamSold`;
  setText($("#lot-title"), lot.title);
  // A lot of a staggered sale links back to the sale's page.
  $("#lot-sale").hidden = !lot.sale_id;
  if (lot.sale_id) $("#lot-sale-link").setAttribute("href", saleHref(lot.sale_id));
  // Who sells it, by their public handle (lots created before handles have none).
  $("#lot-seller").hidden = !lot.seller;
  setText($("#lot-seller-handle"), lot.seller || "");
  const badge = $("#lot-status");
  badge.dataset.status = lot.status;
  setText(badge, fmt.statusWord(lot));
  setText($("#lot-price"), lot.current_price === null
    ? `${fmt.money(lot.starting_price, lot.currency)} to start`
    : fmt.money(lot.current_price, lot.currency));
  setText($("#lot-leader"), fmt.leader(lot, you));
  // Once bidding is over, the outcome takes the place of the price and the leader.
  const outcome = fmt.outcome(lot, you);
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
  showExtension(previous, lot);
  setText($("#lot-reserve"), fmt.reserve(lot));
}

/**
 * @param {LotView | null} previous
 * @param {LotView} lot
 */
function showExtension(previous, lot) {
  const notice = $("#lot-extended");
  if (lot.extension_count === 0) {
    setText(notice, "");
    return;
  }
  const times = lot.extension_count === 1 ? "once" : `${lot.extension_count} times`;
  setText(notice, `Extended by soft close (${times}): late bids moved the close from `
    + `${fmt.clockTime(lot.scheduled_closes_at)} to ${fmt.clockTime(lot.closes_at)}.`);
  if (previous && previous.closes_at !== lot.closes_at) flash(notice);
}

/**
 * The result panel: shown once the lot has closed or was cancelled.
 * @param {LotView} lot
 * @param {YourStanding | null} you
 */
export function showResult(lot, you) {
  const result = fmt.result(lot, you);
  $("#lot-result").hidden = !result;
  // Green for a sale only: a lot not sold or cancelled is said plainly.
  $("#lot-result").dataset.outcome = lot.status === "CLOSED" && lot.outcome === "SOLD" ? "SOLD" : "NOT_SOLD";
  setText($("#lot-result-text"), result);
}

/**
 * The bid history, newest first: each row one bidder's bid, an automatic bid (the ledger's,
 * for the leader, up to their maximum) said so, and the visitor's own rows marked.
 * @param {LotView} lot
 * @param {string | null} yourAlias  the visitor's alias on this lot, when known
 */
export function showHistory(lot, yourAlias) {
  const rows = [...lot.recent_bids].reverse().map((bid) => {
    const yours = bid.you || (yourAlias !== null && bid.bidder === yourAlias);
    return el("tr", { "data-automatic": bid.automatic ? "true" : null, "data-you": yours ? "true" : null },
      el("td", {}, bid.bidder, yours ? " (you)" : "", bid.automatic ? el("span", { class: "automatic" }, ", automatic") : ""),
      el("td", { class: "number" }, fmt.money(bid.amount, lot.currency)),
      el("td", {}, el("time", { datetime: bid.placed_at }, fmt.clockTime(bid.placed_at))));
  });
  $("#history tbody").replaceChildren(...rows);
  $("#history").hidden = rows.length === 0;
  setText($("#history-note"), rows.length === 0
    ? "No bids yet."
    : lot.older_bids ? "The latest bids; earlier ones are not listed." : "");
}

/**
 * Says what a newer version changed (result, price, close time), for screen readers.
 * @param {LotView} previous
 * @param {LotView} lot
 */
export function announce(previous, lot) {
  let words = "";
  if (lot.status !== previous.status && fmt.result(lot)) words = fmt.result(lot);
  else if (lot.current_price !== previous.current_price) {
    words = `New price ${fmt.money(lot.current_price, lot.currency)}; ${lot.leader} leads.`;
  } else if (lot.closes_at !== previous.closes_at) words = `Extended: now closes at ${fmt.clockTime(lot.closes_at)}.`;
  if (words) setText($("#lot-announce"), words);
}
