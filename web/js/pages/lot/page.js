// One lot (#/lots/<id>): read over REST (with where the signed-in visitor stands), kept
// live by pushed updates, with its countdown ticking. The panels are facts.js (the lot)
// and bid-panel.js (bidding); this module keeps the lot and `you` and decides when to read.

import { setSession } from "../../account.js";
import { $, el, flash, setText } from "../../dom.js";
import * as fmt from "../../format.js";
import { newerThanShown } from "../../live.js";
import { app } from "../../state.js";
import { BidPanel } from "./bid-panel.js";
import { announce, showFacts, showHistory, showResult } from "./facts.js";
import { LogProofLine } from "./log-proof.js";
import { LOT_TEMPLATE } from "./template.js";

/** @typedef {import("../../api.js").LotView} LotView */
/** @typedef {import("../../api.js").YourStanding} YourStanding */

export class LotPage {
  /** @param {string} lotId */
  constructor(lotId) {
    this.lotId = lotId;
    /** @type {LotView | null} */
    this.lot = null;
    // Where the signed-in visitor stands (the API's `you`), and the lot version it was read
    // with: pushed updates are public, so `you` is only as fresh as the last signed-in read.
    /** @type {YourStanding | null} */
    this.you = null;
    /** @type {number | null} */
    this.youVersion = null;
    // The visitor's alias on this lot, once a signed-in read marked a row of the history as
    // theirs: pushes (public) carry no such mark.
    /** @type {string | null} */
    this.yourAlias = null;
    this.reading = false;
    this.readAgain = false;
    this.bids = new BidPanel(this);
    this.logProof = new LogProofLine(lotId);
    this.lastClosePoll = 0;
    this.mounted = false;
  }

  /** @param {HTMLElement} main */
  mount(main) {
    main.innerHTML = LOT_TEMPLATE;
    this.main = main;
    this.mounted = true;
    this.bids.render();
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
      if (failure.status === 404) {
        this.notFound();
        return;
      }
      setText($("#lot-error"), `Could not load the lot: ${failure.message}`);
    }
  }

  /** No such lot: say so, with the way back, and watch no lot on the socket (it would refuse, again and again). */
  notFound() {
    this.mounted = false;
    this.bids.destroy();
    this.logProof.destroy();
    document.title = "No such lot — SamSold";
    this.main.replaceChildren(
      el("p", { class: "back" }, el("a", { href: "#/" }, "← All open lots"), " · ", el("a", { href: "#/ended" }, "Ended lots")),
      el("h1", {}, "No such lot"),
      el("p", { role: "alert" }, `There is no lot “${this.lotId}”. Check the address, or find the lot in the lists.`));
    app.live.watch(null, app.session?.token ?? null);
  }

  connected() {
    // The socket subscribed on connect: whatever changed while it was down is in this read.
    this.refresh();
    this.bids.checkPending();
  }

  /** @param {LotView} lot */
  lotUpdated(lot) {
    if (lot.lot_id !== this.lotId || !newerThanShown(lot, this.lot)) return;
    this.apply(lot);
    // The push is the public view: where a bidder of this lot stands may have changed with it.
    if (this.you && app.session) this.refresh();
  }

  /** The bidder's own news about this lot (bid.outbid, lot.won, lot.lost): say it, and read `you` again. @param {any} message */
  yourNews(message) {
    setText($("#you-news"), fmt.news(message, this.lot?.currency ?? ""));
    // The last bid's outcome ("you lead…") is old news now, unless a bid is still on its way.
    this.bids.clearStaleOutcome();
    flash($("#lot-you"));
    this.refresh();
  }

  /** @param {import("../../api.js").BidOutcome} bid */
  bidOutcome(bid) {
    this.bids.bidOutcome(bid);
  }

  /**
   * Shows a version of the lot, unless it is older than the one shown.
   * @param {LotView} lot
   * @param {YourStanding | null} [you]  from a REST read: where the visitor stands (null: signed out or never bid); a push has none
   */
  apply(lot, you = undefined) {
    const previous = this.lot;
    if (previous && lot.version < previous.version) return; // an older read arriving late
    this.lot = lot;
    if (you !== undefined) {
      // A REST read: its `you` is the latest (null when signed out or never bid here).
      this.you = you;
      this.youVersion = lot.version;
      this.yourAlias = lot.recent_bids.find((bid) => bid.you)?.bidder ?? (you ? this.yourAlias : null);
    }
    // `you` read with another version may name the wrong leader: it only words its own line.
    const freshYou = this.youVersion === lot.version ? this.you : null;
    showFacts(previous, lot, freshYou);
    this.renderStanding();
    showResult(lot, freshYou);
    showHistory(lot, app.session ? this.yourAlias : null);
    if (previous && previous.version !== lot.version) announce(previous, lot);
    this.bids.render();
    this.logProof.shown(lot.version);
    this.tick();
  }

  renderStanding() {
    const line = $("#lot-you");
    const you = app.session ? this.you : null;
    line.dataset.status = fmt.standingKind(you, this.lot);
    setText(line, fmt.standing(you, this.lot));
  }

  sessionChanged() {
    // Signed out: forget `you` at once; signed in: read it.
    this.you = null;
    this.youVersion = null;
    this.yourAlias = null;
    if (this.lot) this.apply(this.lot);
    this.bids.render();
    this.refresh();
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
    this.bids.destroy();
    this.logProof.destroy();
  }
}
