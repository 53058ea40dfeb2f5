// One WebSocket to the lots API that comes back after a drop. Subscribing on connect
// (`?lot_id=`) happens before the socket opens, so a REST read made on "open" misses
// nothing: every later change arrives as `lot.updated`.

// The longest wait before each retry; each wait is drawn at random below it ("full jitter"),
// so a crowd dropped together (a network blip, a redeploy) comes back spread out, under
// API Gateway's quota of new connections per second, instead of all at once again.
const BACKOFF_MS = [1000, 2000, 4000, 8000, 16000];

/** @typedef {"connecting" | "online" | "offline"} ConnectionState */

export class LiveConnection {
  /**
   * @param {string} baseUrl  the WebSocket API's URL
   * @param {object} callbacks
   * @param {(message: any) => void} callbacks.onMessage  each message, parsed (others are dropped)
   * @param {(state: ConnectionState) => void} callbacks.onState
   * @param {() => void} callbacks.onOpen  connected (again): the subscriptions hold from now on
   */
  constructor(baseUrl, { onMessage, onState, onOpen }) {
    this.baseUrl = baseUrl;
    this.onMessage = onMessage;
    this.onState = onState;
    this.onOpen = onOpen;
    this.lotId = null;
    this.token = null;
    this.extraLots = new Set();
    this.subscribed = new Set(); // extra lots this socket has asked for
    this.socket = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.wanted = false;
    window.addEventListener("online", () => this.wanted && this.retrySoon());
    window.addEventListener("offline", () => this.socket?.close());
  }

  /** Connect for one lot (or none), as this user (or anonymously); reconnects when either changes. */
  /**
   * @param {string | null} lotId
   * @param {string | null} token
   */
  watch(lotId, token) {
    const changed = lotId !== this.lotId || token !== this.token || !this.wanted;
    this.lotId = lotId;
    this.token = token;
    this.wanted = true;
    if (changed) this.retryNow();
  }

  /** More lots on the same connection (the list page); the server's reply is not relied on. */
  /** @param {string[]} lotIds */
  subscribe(lotIds) {
    this.extraLots = new Set(lotIds);
    if (this.socket?.readyState === WebSocket.OPEN) this.sendSubscriptions();
  }

  retryNow() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.attempt = 0;
    this.connect();
  }

  /** Back online: a retry within the first backoff, at random (every page on the network came back together). */
  retrySoon() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.attempt = 0;
    this.scheduleRetry();
  }

  connect() {
    this.drop();
    this.subscribed = new Set();
    const params = new URLSearchParams();
    if (this.lotId) params.set("lot_id", this.lotId);
    const query = params.toString();
    // The token travels as a subprotocol, never in the URL (URLs end up in logs); the
    // server answers with "samsold.v1" alone.
    const protocols = this.token ? ["samsold.v1", `samsold.token.${this.token}`] : ["samsold.v1"];
    const socket = new WebSocket(query ? `${this.baseUrl}?${query}` : this.baseUrl, protocols);
    this.socket = socket;
    this.onState(this.attempt === 0 ? "connecting" : "offline");
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.attempt = 0;
      this.onState("online");
      this.sendSubscriptions();
      this.onOpen();
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onMessage(message);
    });
    socket.addEventListener("close", () => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.onState("offline");
      this.scheduleRetry();
    });
  }

  // Only the difference goes over the wire: each message is a function invocation.
  sendSubscriptions() {
    const wanted = new Set([...this.extraLots].filter((lotId) => lotId !== this.lotId));
    for (const lotId of wanted) {
      if (!this.subscribed.has(lotId)) this.socket.send(JSON.stringify({ action: "subscribe", lot_id: lotId }));
    }
    for (const lotId of this.subscribed) {
      if (!wanted.has(lotId)) this.socket.send(JSON.stringify({ action: "unsubscribe", lot_id: lotId }));
    }
    this.subscribed = wanted;
  }

  scheduleRetry() {
    if (!this.wanted || this.retryTimer) return;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay * Math.random());
  }

  drop() {
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
  }
}

// A pushed update can arrive after a newer one: a large audience is served by several
// invocations (docs/ARCHITECTURE.md, "How a bid becomes events"), and a page of watchers
// handed to another one may be posted after the lot's next update. Show only newer versions.
/**
 * @param {{version: number}} lot  a lot's view, pushed or read
 * @param {{version: number} | null | undefined} shown  the view on show, if any
 */
export function newerThanShown(lot, shown) {
  return !shown || lot.version > shown.version;
}
