// The dashboard: signing in, the header, the banner, and which view shows for the URL's hash
// (`#/apps`, `#/apps/NAME`, `#/calls?app=...`, `#/calls/fc-...`, `#/logs/APP[/FUNCTION]`,
// `#/tokens`). The token lives in this tab's session storage only, never in a URL.

import { Api, ApiError, UnreachableError, parseToken } from "./api.js";
import { fill, h } from "./dom.js";
import { showApp, showApps } from "./views/apps.js";
import { showCall, showCalls } from "./views/calls.js";
import { showLogs } from "./views/logs.js";
import { showTokens } from "./views/tokens.js";

const TOKEN_KEY = "wharf-dashboard-token";

const elements = {
  main: document.getElementById("main"),
  nav: document.getElementById("nav"),
  session: document.getElementById("session"),
  workspace: document.getElementById("workspace"),
  signOut: document.getElementById("sign-out"),
  banner: document.getElementById("banner"),
  signIn: document.getElementById("sign-in"),
  signInForm: document.getElementById("sign-in-form"),
  tokenInput: document.getElementById("token"),
  signInMessage: document.getElementById("sign-in-message"),
};

// `attempt` counts sign-ins: a late answer to an earlier session cannot sign out a later one.
const session = { api: null, whoami: null, leaveView: null, attempt: 0 };

function showBanner(text) {
  elements.banner.textContent = text;
  elements.banner.hidden = !text;
}

function onReachable(isReachable) {
  if (isReachable) {
    if (elements.banner.dataset.kind === "unreachable") showBanner("");
    return;
  }
  elements.banner.dataset.kind = "unreachable";
  showBanner(`Cannot reach the gateway at ${location.origin}. Is it running? Retrying…`);
}

function leaveView() {
  if (session.leaveView) session.leaveView();
  session.leaveView = null;
}

function showSignIn(message) {
  leaveView();
  session.api = null;
  session.whoami = null;
  elements.nav.hidden = true;
  elements.session.hidden = true;
  elements.main.hidden = true;
  elements.signIn.hidden = false;
  elements.signInMessage.textContent = message || "";
  elements.signInMessage.hidden = !message;
  elements.tokenInput.focus();
}

/** The token was refused: back to the sign-in form, saying why (revoked, expired...). */
function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn(reason ? `Signed out: ${reason}. Paste a valid token to go on.` : "");
}

async function signIn(token) {
  const attempt = ++session.attempt;
  const api = new Api(token, {
    onUnauthorized: (message) => attempt === session.attempt && signOut(message),
    onReachable,
  });
  try {
    session.whoami = await api.get("/v1/whoami");
  } catch (error) {
    if (error instanceof UnreachableError) {
      showSignIn(`Cannot reach the gateway at ${location.origin}. Is it running?`);
    } else if (!(error instanceof ApiError && error.status === 401)) {
      showSignIn(`The gateway refused the sign-in: ${error.message}`);
    }
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  session.api = api;
  elements.signIn.hidden = true;
  elements.main.hidden = false;
  elements.nav.hidden = false;
  elements.session.hidden = false;
  const role = session.whoami.is_admin ? " (admin)" : "";
  elements.workspace.textContent = `workspace ${session.whoami.workspace}${role}`;
  showRoute();
}

function decodePart(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // a hand-typed "%" that starts no escape
  }
}

function parseHash() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodePart);
  return { parts, params: new URLSearchParams(query) };
}

const VIEWS = {
  apps: (context, [app]) => (app ? showApp(context, app) : showApps(context)),
  calls: (context, [id], params) => (id ? showCall(context, id) : showCalls(context, params)),
  logs: (context, [app, fn]) => showLogs(context, app, fn),
  tokens: (context) => showTokens(context),
};

function showRoute() {
  if (!session.api) return;
  leaveView();
  const { parts, params } = parseHash();
  const name = VIEWS[parts[0]] ? parts[0] : "apps";
  for (const link of elements.nav.querySelectorAll("a")) {
    link.toggleAttribute("aria-current", link.dataset.view === name);
  }
  const root = h("div", { class: "view", dataset: { view: name } });
  fill(elements.main, root);
  const context = { api: session.api, whoami: session.whoami, root, signOut };
  session.leaveView = VIEWS[name](context, parts.slice(1), params) || null;
}

elements.signInForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = parseToken(elements.tokenInput.value);
  elements.tokenInput.value = "";
  if (!token) {
    showSignIn("That is not a token: paste TOKEN_ID:TOKEN_SECRET, or what wharf token new prints.");
    return;
  }
  signIn(token);
});
elements.signOut.addEventListener("click", () => signOut(""));
window.addEventListener("hashchange", showRoute);

const remembered = sessionStorage.getItem(TOKEN_KEY);
if (remembered) signIn(remembered);
else showSignIn("");
