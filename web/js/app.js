// SamSold's live lot page: the list of open lots (#/), of ended lots (#/ended), one lot
// (#/lots/<id>), the lots the signed-in bidder bid on (#/me) and a staggered sale (#/sales/<id>).
// Plain ES modules, no build step: index.html loads this file as it is, and it imports the rest.
// This module starts the page, maps each route to its page and hands the page what the
// WebSocket pushes.

import { renderAccount, showConnection } from "./account.js";
import { Api, loadConfig } from "./api.js";
import { $, el } from "./dom.js";
import { LiveConnection } from "./live.js";
import { dropNotices, showNotice, YOUR_NEWS } from "./notices.js";
import { LISTS, LotListPage } from "./pages/lot-lists.js";
import { LotPage } from "./pages/lot/page.js";
import { MyBidsPage } from "./pages/my-bids.js";
import { SalePage } from "./pages/sale.js";
import { lotIdOf, MY_BIDS_ROUTE, saleIdOf } from "./routes.js";
import { loadSession, saveSession, sessionFromToken, takeTokenFromLocation } from "./session.js";
import { app } from "./state.js";

const TICK_MS = 250;

function route() {
  const lotId = lotIdOf(location.hash);
  if (app.page && app.page.lotId === lotId && lotId !== null) return;
  app.page?.destroy();
  if (lotId) dropNotices(lotId); // the lot itself now says it
  const myBidsLink = $("#account .my-bids-link");
  if (location.hash === MY_BIDS_ROUTE) myBidsLink?.setAttribute("aria-current", "page");
  else myBidsLink?.removeAttribute("aria-current");
  const saleId = saleIdOf(location.hash);
  if (lotId) app.page = new LotPage(lotId);
  else if (saleId) app.page = new SalePage(saleId);
  else if (location.hash === MY_BIDS_ROUTE) app.page = new MyBidsPage();
  else app.page = new LotListPage(location.hash === LISTS.closed.route ? "closed" : "open");
  const main = $("#main");
  app.page.mount(main);
  app.live.watch(lotId, app.session?.token ?? null);
}

/** @param {any} message  a WebSocket message, parsed */
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
