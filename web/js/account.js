// The page's header: the live connection's state, and the account box (sign in as a
// development user or with a Cognito ID token; who is signed in; sign out).

import { $, el, setText } from "./dom.js";
import { MY_BIDS_ROUTE } from "./routes.js";
import { rememberReturnRoute, saveSession, sessionFromToken } from "./session.js";
import { app } from "./state.js";

const DEV_USERS = ["alice", "bob", "carol", "dave", "erin"];

const CONNECTION_WORDS = {
  connecting: "Connecting…",
  online: "Live",
  offline: "Offline: reconnecting…",
};

/** @param {import("./live.js").ConnectionState} state */
export function showConnection(state) {
  const indicator = $("#connection");
  indicator.dataset.state = state;
  setText(indicator, CONNECTION_WORDS[state]);
}

export function renderAccount() {
  const box = $("#account");
  box.replaceChildren();
  if (app.session) {
    const signOut = el("button", { type: "button", class: "secondary" }, "Sign out");
    signOut.addEventListener("click", () => setSession(null));
    const myBids = el("a", { href: MY_BIDS_ROUTE, class: "my-bids-link" }, "My bids");
    if (location.hash === MY_BIDS_ROUTE) myBids.setAttribute("aria-current", "page");
    box.append(myBids, el("p", { class: "signed-in" }, "Signed in as ", el("strong", {}, app.session.name)), signOut);
    return;
  }
  const error = el("p", { class: "form-error", role: "alert", id: "sign-in-error" });
  const form = el("form", { class: "sign-in", id: "sign-in", "aria-label": "Sign in" });
  if (app.config.devTokens) {
    const select = /** @type {HTMLSelectElement} */ (el("select", { id: "dev-user", name: "user" },
      ...DEV_USERS.map((user) => el("option", { value: user }, user))));
    form.append(el("label", { for: "dev-user" }, "Development user"), select,
      el("button", { type: "submit" }, "Sign in"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      setText(error, "");
      try {
        setSession(sessionFromToken(await app.api.devToken(select.value)));
      } catch (failure) {
        setText(error, `Could not sign in: ${failure.message}`);
      }
    });
  } else {
    const input = /** @type {HTMLInputElement} */ (
      el("input", { id: "id-token", name: "token", type: "password", autocomplete: "off", spellcheck: "false" }));
    form.append(el("label", { for: "id-token" }, "Cognito ID token"), input, el("button", { type: "submit" }, "Sign in"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const session = sessionFromToken(input.value.trim());
      if (!session) {
        setText(error, "That is not a valid, unexpired ID token.");
        return;
      }
      setSession(session);
    });
    if (app.config.signInUrl) {
      const link = el("a", { href: app.config.signInUrl, class: "hosted-ui" }, "Sign in with Cognito");
      link.addEventListener("click", rememberReturnRoute);
      form.append(link);
    }
  }
  box.append(form, error);
}

/**
 * Signs in (a session) or out (null): the account box, the page on show and the live
 * connection (whose `?token=` brings the bidder's own news) follow.
 * @param {import("./session.js").Session | null} session
 */
export function setSession(session) {
  app.session = session;
  saveSession(session);
  renderAccount();
  app.page?.sessionChanged?.();
  app.live.watch(app.page?.lotId ?? null, session?.token ?? null);
  // The control that was used is gone: carry on where it makes sense.
  ($("#bid-amount") ?? $("#account button, #account select"))?.focus();
}

/** Where a page's "Sign in" buttons send the keyboard: the account box's first control. */
export function focusSignIn() {
  $("#account select, #account input, #account button")?.focus();
}
