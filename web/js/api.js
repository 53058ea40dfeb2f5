// The page's configuration and the REST API. config.json sits next to index.html:
// the local stack serves it; in AWS it is uploaded with the page (docs/DEPLOY.md).

/**
 * Where the page finds the API, from config.json.
 * @typedef {object} Config
 * @property {string} rest  the REST API's base URL, without a trailing slash
 * @property {string} websocket  the WebSocket API's URL, without a trailing slash
 * @property {boolean} devTokens  the local stack's development sign-in (POST /dev/token) is offered
 * @property {string | null} signInUrl  Cognito's hosted UI, if configured
 */

/** @returns {Promise<Config>} */
export async function loadConfig() {
  const response = await fetch(new URL("config.json", document.baseURI), { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = await response.json();
  if (!config.rest || !config.websocket) throw new Error("config.json needs \"rest\" and \"websocket\" URLs");
  return {
    rest: config.rest.replace(/\/+$/, ""),
    websocket: config.websocket.replace(/\/+$/, ""),
    devTokens: config.dev_tokens === true,
    signInUrl: config.sign_in_url || null,
  };
}

// The answers the page reads, as far as it reads them. Amounts are decimal strings in the
// lot's currency ("12.50"), times ISO 8601 strings in UTC.

/**
 * A lot as GET /lots, GET /lots/{id}, GET /sales/{id} and the `lot.updated` push give it.
 * @typedef {object} LotView
 * @property {string} lot_id
 * @property {string} title
 * @property {string} currency
 * @property {"SCHEDULED" | "OPEN" | "CLOSED" | "CANCELLED"} status
 * @property {"SOLD" | "UNSOLD" | null} outcome
 * @property {string} starting_price
 * @property {string | null} current_price
 * @property {string | null} minimum_bid  null once bidding is over
 * @property {string | null} leader  the leader's alias
 * @property {number} bid_count
 * @property {string} opens_at
 * @property {string} closes_at  the current close, soft-close extensions included
 * @property {string} scheduled_closes_at
 * @property {number} extension_count
 * @property {string | null} hard_close_at
 * @property {string | null} ended_at
 * @property {boolean} reserve_met
 * @property {boolean} has_reserve
 * @property {number} version  the lot's version: a higher one is newer
 * @property {string | null} buy_now_price  while the lot is offered at it
 * @property {string | null} sale_id
 * @property {"open" | "approval"} [registration]  approval: only bidders the seller approved bid
 * @property {string | null} [seller]  the seller's public handle (null for lots created before handles)
 * @property {PublicBid[]} [recent_bids]  a lot's own view only: the latest rows of its bid history, oldest first
 * @property {boolean} [older_bids]  the history has older rows than these
 * @property {YourStanding | null} [you]  a signed-in read only
 */

/**
 * A row of a lot's public bid history: what one bidder bid, as the public may know it.
 * @typedef {object} PublicBid
 * @property {string} bidder  an alias ("Bidder 2")
 * @property {string} amount
 * @property {string} placed_at
 * @property {number} version
 * @property {"LEADING" | "OUTBID"} outcome
 * @property {boolean} automatic  bid by the ledger for the leader, answering the row before
 * @property {boolean} you  the reader's own (a signed-in read only)
 */

/**
 * Where the signed-in bidder stands on a lot (`you` in its view).
 * @typedef {object} YourStanding
 * @property {"LEADING" | "OUTBID" | "WON" | "LOST" | "CANCELLED"} status
 * @property {boolean} leading
 * @property {string | null} maximum  null when none of their bids was accepted
 * @property {string | null} last_bid
 * @property {string | null} [minimum_raise]  the leader of an open lot: the least a raise of their maximum must be
 */

/**
 * A bid once decided (GET /bids/{id}, the `bid.outcome` push), or PENDING before.
 * @typedef {object} BidOutcome
 * @property {string} bid_id
 * @property {string} lot_id
 * @property {"PENDING" | "ACCEPTED" | "REJECTED"} status
 * @property {string} amount
 * @property {string | null} [reason]  why it was refused
 * @property {string | null} [minimum]
 * @property {string | null} [current_price]
 * @property {boolean} [leading]  an accepted bid: whether it leads
 */

export class ApiError extends Error {
  /**
   * @param {number} status  the HTTP status; 0 when the server could not be reached
   * @param {string} code  the API's error code (such as CONFIRMATION_REQUIRED)
   * @param {string} message
   * @param {any} [details]
   * @param {number | null} [retryAfter]  a 429's Retry-After in seconds, when it says one
   */
  constructor(status, code, message, details, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

// A 429 is sent again once when its Retry-After is at most this (a throttled burst, or a
// pending bid deciding in a moment); a longer one (the hour's rejected bids) is the answer.
const RETRY_AFTER_HONOURED_S = 10;

/**
 * `send()`; answered 429 with a short Retry-After, sent once more after it and a random
 * wait below a second (so a throttled crowd of bidders does not come back at the same
 * moment), `waiting` telling the visitor first. `send` must be safe to repeat (a bid with
 * its own key is one bid however often it is sent).
 * @template T
 * @param {() => Promise<T>} send
 * @param {(seconds: number) => void} waiting  given the whole seconds until it is sent again
 * @returns {Promise<T>}
 */
export async function withOneRetry(send, waiting) {
  try {
    return await send();
  } catch (failure) {
    const seconds = failure instanceof ApiError && failure.status === 429 ? failure.retryAfter : null;
    if (seconds === null || seconds > RETRY_AFTER_HONOURED_S) throw failure;
    const wait = (seconds + Math.random()) * 1000;
    waiting(Math.ceil(wait / 1000));
    await new Promise((resolve) => setTimeout(resolve, wait));
    return send();
  }
}

/**
 * A 429's wait in seconds: its Retry-After header (readable from another origin only when
 * exposed), else the quota's `retry_after_s`, else 1 for a bare throttle; null for other statuses.
 * @param {Response} response
 * @param {any} details
 * @returns {number | null}
 */
function retryAfterOf(response, details) {
  if (response.status !== 429) return null;
  const header = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  if (Number.isFinite(header) && header >= 0) return header;
  return Number.isFinite(details?.retry_after_s) ? details.retry_after_s : 1;
}

export class Api {
  /** @param {string} rest  the REST API's base URL */
  constructor(rest) {
    this.rest = rest;
  }

  /**
   * The answer's JSON (null when empty); an ApiError for anything but a 2xx.
   * @param {string} method
   * @param {string} path
   * @param {{token?: string | null, body?: any}} [options]  token: a bearer token; body: sent as JSON
   * @returns {Promise<any>}
   */
  async request(method, path, { token, body } = {}) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(this.rest + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, "NETWORK", "the server could not be reached", { cause: String(error) });
    }
    const text = await response.text();
    let payload = null;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      payload = null;
    }
    if (!response.ok) {
      const error = payload?.error ?? {};
      const message = error.message ?? payload?.message ?? `HTTP ${response.status}`;
      throw new ApiError(response.status, error.code ?? `HTTP_${response.status}`, message, error.details,
        retryAfterOf(response, error.details));
    }
    return payload;
  }

  /** The first page of lots: "open" (soonest to close first) or "closed" (ended, newest first). */
  /**
   * @param {"open" | "closed"} status
   * @returns {Promise<LotView[]>}
   */
  lots(status) {
    return this.request("GET", `/lots?status=${encodeURIComponent(status)}`).then((answer) => answer.lots);
  }

  /** A lot's view; with a token it adds `you` (where the caller stands), null if they never bid. */
  /**
   * @param {string} lotId
   * @param {string | null} [token]
   * @returns {Promise<LotView>}
   */
  lot(lotId, token = null) {
    return this.request("GET", `/lots/${encodeURIComponent(lotId)}`, { token });
  }

  /** One page of the lots the caller bid on: {items, next}; `next` is the cursor of the page after. */
  /**
   * @param {string} token
   * @param {string | null} [cursor]
   * @returns {Promise<{items: any[], next: string | null}>}
   */
  myBids(token, cursor = null) {
    const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
    return this.request("GET", `/me/bids${query}`, { token });
  }

  /** A staggered sale and one page of its lots in closing order: {sale_id, title, interval_s, first_closes_at, lot_count, items, next}. */
  /**
   * @param {string} saleId
   * @param {string | null} [cursor]  `next` of the page before
   * @returns {Promise<{sale_id: string, title: string, interval_s: number, first_closes_at: string, registration: string, lot_count: number, items: LotView[], next: string | null}>}
   */
  sale(saleId, cursor = null) {
    const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
    return this.request("GET", `/sales/${encodeURIComponent(saleId)}${query}`);
  }

  /**
   * @param {string} token
   * @param {string} lotId
   * @param {string} amount  the bidder's maximum
   * @param {string} bidId  the bidder's own key for it: sending it again does not bid twice (the answer's bid_id names the bid)
   * @param {boolean} [confirm]
   */
  placeBid(token, lotId, amount, bidId, confirm = false) {
    // `confirm` answers the API's CONFIRMATION_REQUIRED for a bid far above the minimum.
    const body = { lot_id: lotId, amount, bid_id: bidId, ...(confirm ? { confirm: true } : {}) };
    return this.request("POST", "/bid", { token, body });
  }

  /** Buy the lot at its buy-now price: queued like a bid, its outcome read like a bid's. */
  /**
   * @param {string} token
   * @param {string} lotId
   * @param {string} bidId
   */
  buyNow(token, lotId, bidId) {
    return this.request("POST", `/lots/${encodeURIComponent(lotId)}/buy`, { token, body: { bid_id: bidId } });
  }

  /**
   * @param {string} token
   * @param {string} bidId
   * @returns {Promise<BidOutcome>}
   */
  bidStatus(token, bidId) {
    return this.request("GET", `/bids/${encodeURIComponent(bidId)}`, { token });
  }

  /**
   * The lot's events in the public log under its newest checkpoint (docs/PROOFS.md); public.
   * @param {string} lotId
   * @returns {Promise<import("./proof-check.js").LotProof>}
   */
  lotProof(lotId) {
    return this.request("GET", `/lots/${encodeURIComponent(lotId)}/proof`);
  }

  /**
   * The key that signs the public log's checkpoints.
   * @returns {Promise<{origin: string, key_id: string, algorithm: string, public_key_pem: string}>}
   */
  logKey() {
    return this.request("GET", "/log/key");
  }

  /**
   * The caller's registrations, every page: [{sale_id, lot_id, user_id, status, paddle, limit, currency, reason}].
   * @param {string} token
   * @returns {Promise<any[]>}
   */
  async myRegistrations(token) {
    const items = [];
    let cursor = null;
    do {
      const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
      const page = await this.request("GET", `/me/registrations${query}`, { token });
      items.push(...page.items);
      cursor = page.next;
    } while (cursor);
    return items;
  }

  /**
   * Register to bid in a sale that needs approval: the registration (PENDING until the seller decides).
   * @param {string} token
   * @param {string} saleId
   */
  register(token, saleId) {
    return this.request("POST", `/sales/${encodeURIComponent(saleId)}/registrations`, { token });
  }

  /**
   * A development token (the local stack only).
   * @param {string} user
   * @returns {Promise<string>}
   */
  devToken(user) {
    return this.request("POST", "/dev/token", { body: { user, admin: false } }).then((answer) => answer.token);
  }
}
