// How amounts, times and reasons read on the page. Money stays a decimal string in the
// API and on the page: Intl formats the string itself, exactly, never a float of it.

/** @typedef {import("./api.js").LotView} LotView */
/** @typedef {import("./api.js").YourStanding} YourStanding */

/** @type {Map<string, Intl.NumberFormat>} */
const moneyFormats = new Map();

/**
 * @param {string | null | undefined} amount  a decimal string
 * @param {string} currency  an ISO 4217 code
 */
export function money(amount, currency) {
  if (amount === null || amount === undefined) return "—";
  let format = moneyFormats.get(currency);
  if (!format) {
    try {
      format = new Intl.NumberFormat("en", { style: "currency", currency });
    } catch {
      return `${amount} ${currency}`; // a code Intl does not know
    }
    moneyFormats.set(currency, format);
  }
  // Intl knows each currency's minor-unit digits (EUR 2, JPY 0, KWD 3), as the API does, and
  // formats a decimal string exactly, however many digits (a Number would round past 15).
  return format.format(/** @type {any} */ (amount));
}

/** @param {number} ms */
export function duration(ms) {
  if (ms <= 0) return "0 s";
  const total = Math.floor(ms / 1000);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const two = (/** @type {number} */ n) => String(n).padStart(2, "0");
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${two(minutes)} min`;
  if (minutes > 0) return `${minutes} min ${two(seconds)} s`;
  return `${seconds} s`;
}

/** @param {string} iso */
export function clockTime(iso) {
  return new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** @param {string} iso */
export function dateTime(iso) {
  return new Date(iso).toLocaleString("en-GB", {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
}

/**
 * Where the signed-in bidder stands with a sale that needs approval, in words.
 * @param {{status: string, paddle: number | null, limit: string | null, currency: string | null, reason: string | null} | null} registration
 */
export function registrationWords(registration) {
  if (!registration) return "This sale needs the seller's approval to bid.";
  if (registration.status === "PENDING") return "Your registration is waiting for the seller's approval.";
  if (registration.status === "APPROVED") {
    const limit = registration.limit ? `, limit ${money(registration.limit, registration.currency || "EUR")}` : "";
    return `You are approved: Paddle ${registration.paddle}${limit}`;
  }
  const why = registration.reason ? `: ${registration.reason}` : "";
  return registration.status === "SUSPENDED" ? `Your registration is suspended${why}` : `Your registration was declined${why}`;
}

/**
 * A refused bid's reason code, in words (the bid's `minimum` where it helps).
 * @type {Record<string, (bid: {minimum?: string | null}, currency: string) => string>}
 */
const REASONS = {
  LOT_NOT_OPEN: () => "bidding on this lot has not opened yet.",
  LOT_CLOSED: () => "the lot had already closed when your bid arrived.",
  LOT_CANCELLED: () => "the lot has been cancelled.",
  SELLER_CANNOT_BID: () => "you are the seller of this lot, and sellers cannot bid on their own lots.",
  ALREADY_LEADING: () => "you are already the highest bidder.",
  BELOW_OWN_MAXIMUM: (bid, currency) =>
    "you already lead, and a new maximum must be above your current one"
    + (bid.minimum ? ` (at least ${money(bid.minimum, currency)}).` : "."),
  BELOW_MINIMUM: (bid, currency) =>
    bid.minimum ? `your bid is below the minimum next bid of ${money(bid.minimum, currency)}.` : "your bid is below the minimum next bid.",
  CURRENCY_PRECISION: (_bid, currency) => `${currency} amounts cannot have that many decimal places.`,
  BUY_NOW_NOT_OFFERED: () => "the lot was no longer offered at its buy-now price (a bid came first).",
  BIDDER_BLOCKED: () => "the auction house has blocked you from bidding, or suspended your registration for this sale.",
  NOT_REGISTERED: () => "this sale needs a registration the seller approves: register to bid first.",
  REGISTRATION_PENDING: () => "your registration for this sale is waiting for the seller's approval.",
  LIMIT_EXCEEDED: () => "it would take your bids in this sale past the limit the seller gave you.",
};

/**
 * @param {{reason?: string | null, minimum?: string | null}} bid  a refused bid
 * @param {string} currency
 */
export function reason(bid, currency) {
  const words = REASONS[bid.reason];
  return words ? words(bid, currency) : `the bid was refused (${bid.reason}).`;
}

/** @param {LotView} lot */
export function statusWord(lot) {
  return /** @type {Record<string, string>} */ ({ SCHEDULED: "Not open yet", OPEN: "Open", CLOSED: "Closed", CANCELLED: "Cancelled" })[lot.status] ?? lot.status;
}

// `you` (where the signed-in visitor stands, from the API) is passed only when it was read
// with the lot version shown, so that "(you)" never names the wrong bidder.
/**
 * @param {LotView} lot
 * @param {YourStanding | null} you
 */
function leaderName(lot, you) {
  return you?.status === "WON" || you?.leading ? `${lot.leader} (you)` : lot.leader;
}

/**
 * An ended lot's outcome in a few words, where an open one shows its price and leader.
 * @param {LotView} lot
 * @param {YourStanding | null} [you]
 */
export function outcome(lot, you = null) {
  if (lot.status === "CANCELLED") return "Cancelled";
  if (lot.status !== "CLOSED") return "";
  if (lot.outcome === "SOLD") return `Sold for ${money(lot.current_price, lot.currency)} to ${leaderName(lot, you)}`;
  return lot.bid_count === 0 ? "Not sold: no bids" : "Not sold: the reserve was not met";
}

/**
 * An ended lot's result in a sentence ("" while it is open).
 * @param {LotView} lot
 * @param {YourStanding | null} [you]
 */
export function result(lot, you = null) {
  if (lot.status === "CANCELLED") return "This lot was cancelled. No sale.";
  if (lot.status !== "CLOSED") return "";
  if (lot.outcome === "SOLD") return `Sold to ${leaderName(lot, you)} for ${money(lot.current_price, lot.currency)}.`;
  if (lot.bid_count === 0) return "Not sold: there were no bids.";
  return `Not sold: the reserve was not met (the highest bid was ${money(lot.current_price, lot.currency)}).`;
}

/**
 * What the lot's reserve is now, in a sentence ("" for a lot without one), in the tense of its state.
 * @param {LotView} lot
 */
export function reserve(lot) {
  if (!lot.has_reserve || lot.status === "CANCELLED") return "";
  if (lot.status === "CLOSED") return lot.reserve_met ? "The reserve price was met." : "The reserve price was not met.";
  return lot.reserve_met ? "The reserve price has been met." : "The reserve price has not been met yet.";
}

/**
 * How a standing line looks: its status, but a leader below an unmet reserve is warned, not congratulated.
 * @param {YourStanding | null} you
 * @param {LotView} lot
 */
export function standingKind(you, lot) {
  if (!you) return "";
  return you.status === "LEADING" && lot.has_reserve && !lot.reserve_met ? "RESERVE_NOT_MET" : you.status;
}

/**
 * @param {LotView} lot
 * @param {YourStanding | null} [you]
 */
export function leader(lot, you = null) {
  return lot.leader ? leaderName(lot, you) : "No bids yet";
}

/**
 * Where the signed-in bidder stands on a lot, in a sentence (the API's `you`; null: no bid).
 * @param {YourStanding | null} you
 * @param {LotView} lot
 */
export function standing(you, lot) {
  if (!you) return "";
  const price = money(lot.current_price, lot.currency);
  const maximum = you.maximum === null ? null : money(you.maximum, lot.currency);
  switch (you.status) {
    case "LEADING": {
      const yours = maximum ? ` (your maximum ${maximum})` : "";
      return lot.has_reserve && !lot.reserve_met
        ? `You are the highest bidder${yours}, but the reserve has not been met: the lot is not sold at this price.`
        : `You are the highest bidder${yours}.`;
    }
    case "OUTBID":
      // No maximum: none of their bids was accepted (each was refused with its reason).
      return maximum
        ? `You have been outbid: the price is ${price}; your maximum was ${maximum}.`
        : `You are not bidding: your last bid, ${money(you.last_bid, lot.currency)}, was not accepted. The price is ${price}.`;
    case "WON":
      return `You won this lot for ${price}.`;
    case "LOST":
      return "You did not win this lot.";
    case "CANCELLED":
      return "This lot was cancelled, so your bid no longer stands.";
    default:
      return "";
  }
}

/**
 * A status of `GET /me/bids` in a word or two; a leader below the reserve is told so, and a
 * lot that ended below it was not sold.
 * @param {string} status
 * @param {boolean} [reserveMet]
 */
export function standingWord(status, reserveMet = true) {
  if (!reserveMet && status === "LEADING") return "Highest bidder, reserve not met";
  if (!reserveMet && status === "LOST") return "Not sold: reserve not met";
  return /** @type {Record<string, string>} */ ({
    LEADING: "Highest bidder", OUTBID: "Outbid", WON: "Won", LOST: "Not won", CANCELLED: "Cancelled",
  })[status] ?? status;
}

/**
 * The bidder's own news (bid.outbid, lot.won, lot.lost) about the lot they are looking at.
 * @param {any} message  the push
 * @param {string} currency
 */
export function news(message, currency) {
  if (message.type === "bid.outbid") return `You have been outbid: the price is now ${money(message.current_price, currency)}.`;
  if (message.type === "lot.won") return `You won this lot for ${money(message.price, currency)}.`;
  if (message.type === "lot.lost") return "Bidding has ended: you did not win this lot.";
  // An administrator's retraction (docs/ARCHITECTURE.md, "Retraction by an administrator").
  if (message.type === "bid.retracted") return `An administrator withdrew your bid: ${message.reason}`;
  if (message.type === "bid.leading") return `You lead again at ${money(message.current_price, currency)}: a higher bid was withdrawn.`;
  return "";
}

/**
 * An amount of `GET /me/bids`, whose items do not carry their currency: money when it is known.
 * @param {string | null | undefined} value
 * @param {string | null | undefined} currency
 */
export function amount(value, currency) {
  if (value === null || value === undefined) return "—";
  return currency ? money(value, currency) : value;
}
