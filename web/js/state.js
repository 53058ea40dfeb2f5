// What every part of the page shares: the configuration, the API client, the live
// connection, who is signed in and the page on show. app.js fills it in at start-up.

/**
 * What the router mounts for a route. Each page is told of the socket's (re)connections,
 * pushed lot updates and the clock's ticks; a page for one lot names it in `lotId`.
 * @typedef {object} Page
 * @property {string | null} lotId  the lot the page shows (its WebSocket subscription), or null
 * @property {(main: HTMLElement) => void} mount
 * @property {() => void} connected  the socket (re)connected: read again whatever may have been missed
 * @property {(lot: import("./api.js").LotView) => void} lotUpdated  a pushed `lot.updated` (the lot's public view)
 * @property {() => void} tick
 * @property {() => void} destroy
 * @property {() => void} [sessionChanged]
 * @property {(bid: import("./api.js").BidOutcome) => void} [bidOutcome]  a pushed `bid.outcome` for the signed-in bidder
 * @property {(message: any) => void} [yourNews]  the bidder's own news (outbid, won, lost, ...)
 */

/**
 * @typedef {object} AppState
 * @property {import("./api.js").Config | null} config
 * @property {import("./api.js").Api | null} api
 * @property {import("./live.js").LiveConnection | null} live
 * @property {import("./session.js").Session | null} session
 * @property {Page | null} page
 */

/** @type {AppState} */
export const app = { config: null, api: null, live: null, session: null, page: null };
