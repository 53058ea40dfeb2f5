// The bidder's news about lots they are not looking at (outbid, won, lost, a bid withdrawn
// or leading again): one dismissible notice a lot, above the page.

import { $, el } from "./dom.js";
import * as fmt from "./format.js";
import { lotHref } from "./routes.js";
import { app } from "./state.js";

/** The types of the pushes that are the signed-in bidder's own news about a lot. */
export const YOUR_NEWS = new Set(["bid.outbid", "lot.won", "lot.lost", "bid.retracted", "bid.leading"]);
const latestNews = new Map(); // lot id -> the number of its latest news: older reads lose

/** @param {any} message  one of YOUR_NEWS, naming its lot in `lot_id` */
export async function showNotice(message) {
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
  const link = el("a", { href: lotHref(message.lot_id) }, lot?.title ?? "a lot you bid on");
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

/** @param {string} lotId */
export function dropNotices(lotId) {
  for (const notice of document.querySelectorAll("#notices .news")) {
    if (/** @type {HTMLElement} */ (notice).dataset.lot === lotId) notice.remove();
  }
}
