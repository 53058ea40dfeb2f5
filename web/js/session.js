// Who is signed in: a bearer token (a development token from the local stack, or a
// Cognito ID token) kept for this browser tab only.

const KEY = "samsold.session";

/**
 * The claims of a JWT's payload (not verified: the API does that), or null.
 * @param {string} token
 * @returns {any}
 */
function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      [...atob(payload)].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

/**
 * Who is signed in, from their token's claims.
 * @typedef {object} Session
 * @property {string} token  the bearer token
 * @property {string} name  what the page calls them
 * @property {string} sub  the token's subject
 * @property {number | null} expiresAt  when the token expires (ms since the epoch)
 */

/**
 * The session a token signs in, or null when it is not a readable, unexpired token.
 * @param {string} token
 * @returns {Session | null}
 */
export function sessionFromToken(token) {
  const claims = claimsOf(token);
  if (!claims || !claims.sub) return null;
  if (claims.exp && claims.exp * 1000 < Date.now()) return null;
  const name = claims["cognito:username"] ?? claims.email ?? claims.sub;
  return { token, name, sub: claims.sub, expiresAt: claims.exp ? claims.exp * 1000 : null };
}

/**
 * The session this tab signed in earlier, unless its token has expired.
 * @returns {Session | null}
 */
export function loadSession() {
  const token = sessionStorage.getItem(KEY);
  const session = token ? sessionFromToken(token) : null;
  if (!session) sessionStorage.removeItem(KEY);
  return session;
}

/** @param {Session | null} session */
export function saveSession(session) {
  if (session) sessionStorage.setItem(KEY, session.token);
  else sessionStorage.removeItem(KEY);
}

/** A token handed back by Cognito's hosted UI (`#id_token=...`), or null. */
export function takeTokenFromLocation() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = fragment.get("id_token");
  if (!token) return null;
  history.replaceState(null, "", location.pathname + location.search + (sessionStorage.getItem(`${KEY}.return`) ?? "#/"));
  sessionStorage.removeItem(`${KEY}.return`);
  return token;
}

export function rememberReturnRoute() {
  sessionStorage.setItem(`${KEY}.return`, location.hash || "#/");
}
