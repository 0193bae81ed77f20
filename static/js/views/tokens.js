// Tokens of the workspace: create one (its secret is shown once, here), revoke one.

import { segment } from "../api.js";
import { badge, emptyState, errorText, fill, formatTime, h, table } from "../dom.js";

const EXPIRIES = [
  ["", "Never expires"],
  ["1h", "Expires in 1 hour"],
  ["1d", "Expires in 1 day"],
  ["30d", "Expires in 30 days"],
];

function tokenState(token) {
  if (token.revoked_at) return "revoked";
  if (token.expires_at && token.expires_at * 1000 <= Date.now()) return "expired";
  return "active";
}

function revokeButton(context, token, onRevoked) {
  const own = token.token_id === context.whoami.token_id;
  const text = own ? "Revoke (signs you out)" : "Revoke";
  const button = h("button", { type: "button", class: "danger" }, text);
  button.addEventListener("click", async () => {
    const question = `Revoke token ${token.token_id}? Programs using it stop working at once.`;
    if (!window.confirm(question)) return;
    button.disabled = true;
    try {
      await context.api.delete(`/v1/tokens/${segment(token.token_id)}`);
    } catch (error) {
      button.disabled = false;
      button.after(h("span", { class: "error-text" }, ` ${error.message}`));
      return;
    }
    if (own) context.signOut(`you revoked the token ${token.token_id}`);
    else onRevoked();
  });
  return button;
}

function tokenRow(context, token, refresh) {
  const state = tokenState(token);
  const own = token.token_id === context.whoami.token_id;
  return h(
    "tr",
    { dataset: { tokenId: token.token_id, state } },
    h(
      "td",
      { "data-label": "Token" },
      h("code", { class: "id" }, token.token_id),
      own ? h("span", { class: "muted" }, " (this session)") : null,
    ),
    h("td", { "data-label": "Kind" }, token.kind),
    h("td", { "data-label": "State" }, badge(state)),
    h("td", { "data-label": "Created" }, formatTime(token.created_at)),
    h("td", { "data-label": "Expires" }, token.expires_at ? formatTime(token.expires_at) : "never"),
    h("td", { "data-label": "" }, state === "active" ? revokeButton(context, token, refresh) : ""),
  );
}

function createForm(context, onCreated) {
  const choices = EXPIRIES.map(([value, text]) => h("option", { value }, text));
  const expiry = h("select", { name: "expires_in" }, choices);
  const output = h("div", { class: "new-token", role: "status" });
  const submit = async (event) => {
    event.preventDefault();
    const body = expiry.value ? { expires_in: expiry.value } : {};
    try {
      const made = await context.api.post("/v1/tokens", body);
      const secret = `${made.token_id}:${made.token_secret}`;
      fill(
        output,
        h("p", {}, "New token. Copy it now: its secret is not shown again."),
        h("code", { class: "secret", dataset: { tokenId: made.token_id } }, secret),
      );
    } catch (error) {
      fill(output, errorText(error.message));
    }
    onCreated();
  };
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "New token"),
    h(
      "form",
      { class: "filters", onsubmit: submit },
      h("label", { class: "field" }, "Expiry", expiry),
      h("button", { type: "submit" }, "Create token"),
    ),
    output,
  );
}

export function showTokens(context) {
  const list = h("div", { class: "loading" }, "Loading tokens…");
  const refresh = async () => {
    const { tokens } = await context.api.get("/v1/tokens");
    if (!tokens.length) {
      fill(list, emptyState("This workspace has no tokens you can manage."));
      return;
    }
    const rows = tokens.map((token) => tokenRow(context, token, reload));
    const headings = ["Token", "Kind", "State", "Created", "Expires", ""];
    fill(list, table("tokens", headings, h("tbody", {}, rows)));
  };
  const reload = () => refresh().catch((error) => fill(list, errorText(error.message)));
  fill(context.root, h("h1", {}, "Tokens"), createForm(context, reload), list);
  reload();
}
