// What the pages of several lots share (the lists of open and ended lots, a sale's page):
// read again on (re)connecting, and each lot shown replaced by a newer pushed update.

import * as fmt from "../format.js";
import { newerThanShown } from "../live.js";

/** @typedef {import("../api.js").LotView} LotView */

/** How often the pages of open lots read their lots again: pushes are not all there is. */
export const LIST_REFRESH_MS = 15000;

// Subclasses give refresh (read the lots) and render (show them).
export class LiveLotsPage {
  constructor() {
    /** @type {string | null} */
    this.lotId = null; // not one lot's page: the socket subscribes to its lots instead
    /** @type {Map<string, any>} */
    this.lots = new Map();
    this.refreshTimer = null;
    this.mounted = false;
  }

  /** @returns {Promise<void>} */
  async refresh() {
    throw new Error("a page of lots says how it reads them");
  }

  render() {
    throw new Error("a page of lots says how it shows them");
  }

  connected() {
    this.refresh();
  }

  /** @param {LotView} lot */
  lotUpdated(lot) {
    const known = this.lots.get(lot.lot_id);
    if (!known || !newerThanShown(lot, known)) return;
    this.lots.set(lot.lot_id, lot);
    this.render();
  }
}

/** An open lot's price, or its starting price while nobody has bid. @param {LotView} lot */
export function listPrice(lot) {
  return lot.current_price === null
    ? `${fmt.money(lot.starting_price, lot.currency)} (starting price)`
    : fmt.money(lot.current_price, lot.currency);
}
