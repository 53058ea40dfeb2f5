// The page's addresses: everything after `#`, so that any static host serves the one
// index.html. app.js maps them to pages; the pages link with these.

export const OPEN_LOTS_ROUTE = "#/";
export const ENDED_LOTS_ROUTE = "#/ended";
export const MY_BIDS_ROUTE = "#/me";

/** @param {string} lotId */
export function lotHref(lotId) {
  return `#/lots/${encodeURIComponent(lotId)}`;
}

/** @param {string} saleId */
export function saleHref(saleId) {
  return `#/sales/${encodeURIComponent(saleId)}`;
}

/**
 * The lot a route shows (`#/lots/<id>`), or null.
 * @param {string} hash
 */
export function lotIdOf(hash) {
  const match = hash.match(/^#\/lots\/([^/?#]+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

/**
 * The sale a route shows (`#/sales/<id>`), or null.
 * @param {string} hash
 */
export function saleIdOf(hash) {
  const match = hash.match(/^#\/sales\/([^/?#]+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}
