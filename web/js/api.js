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

export class ApiError extends Error {
  /**
   * @param {number} status  the HTTP status; 0 when the server could not be reached
   * @param {string} code  the API's error code (such as CONFIRMATION_REQUIRED)
   * @param {string} message
   * @param {any} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
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
      throw new ApiError(response.status, error.code ?? `HTTP_${response.status}`, message, error.details);
    }
    return payload;
  }

  /** The first page of lots: "open" (soonest to close first) or "closed" (ended, newest first). */
  lots(status) {
    return this.request("GET", `/lots?status=${encodeURIComponent(status)}`).then((answer) => answer.lots);
  }

  /** A lot's view; with a token it adds `you` (where the caller stands), null if they never bid. */
  lot(lotId, token = null) {
    return this.request("GET", `/lots/${encodeURIComponent(lotId)}`, { token });
  }

  /** One page of the lots the caller bid on: {items, next}; `next` is the cursor of the page after. */
  myBids(token, cursor = null) {
    const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
    return this.request("GET", `/me/bids${query}`, { token });
  }

  /** A staggered sale: {sale_id, title, interval_s, first_closes_at, lots} with its lots in closing order. */
  sale(saleId) {
    return this.request("GET", `/sales/${encodeURIComponent(saleId)}`);
  }

  placeBid(token, lotId, amount, bidId, confirm = false) {
    // `confirm` answers the API's CONFIRMATION_REQUIRED for a bid far above the minimum.
    const body = { lot_id: lotId, amount, bid_id: bidId, ...(confirm ? { confirm: true } : {}) };
    return this.request("POST", "/bid", { token, body });
  }

  /** Buy the lot at its buy-now price: queued like a bid, its outcome read like a bid's. */
  buyNow(token, lotId, bidId) {
    return this.request("POST", `/lots/${encodeURIComponent(lotId)}/buy`, { token, body: { bid_id: bidId } });
  }

  bidStatus(token, bidId) {
    return this.request("GET", `/bids/${encodeURIComponent(bidId)}`, { token });
  }

  devToken(user) {
    return this.request("POST", "/dev/token", { body: { user, admin: false } }).then((answer) => answer.token);
  }
}
