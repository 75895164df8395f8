// The console's shell: hash routes, navigation by role, sign-in pages.

import * as api from "./api.js";
import { adminView } from "./admin.js";
import { chatView } from "./recipient.js";
import { append, clear, field, h, showFieldErrors } from "./dom.js";
import { studioView } from "./studio.js";

const root = document.getElementById("app");
const nav = document.getElementById("nav");
const notice = document.getElementById("notice");
let current = null; // the view on screen: {el, close?}

const STAFF = new Set(["owner", "admin", "expert"]);
const ADMINS = new Set(["owner", "admin"]);

let keepNotice = false;

/** A notice above the page; ``next`` keeps it through the coming navigation. */
export function say(message, kind = "info", { next = false } = {}) {
  keepNotice = next;
  notice.textContent = message || "";
  notice.dataset.kind = kind;
  notice.hidden = !message;
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function home() {
  const me = api.me();
  return me && STAFF.has(me.role) ? "#/studio" : "#/chat";
}

function renderNav() {
  clear(nav);
  const me = api.me();
  if (!me) return;
  const { parts } = parseHash();
  const link = (hash, label, section) =>
    h("a", { href: hash, "aria-current": parts[0] === section ? "page" : null }, label);
  append(nav, [
    STAFF.has(me.role) ? link("#/studio", "Studio", "studio") : null,
    link("#/chat", "Chat", "chat"),
    ADMINS.has(me.role) ? link("#/admin", "Organisation", "admin") : null,
    h("span", { class: "who", dir: "auto" }, `${me.name} (${me.role})`),
    h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: async () => {
          await api.logout().catch(() => {});
          say("You are signed out.", "info", { next: true });
          go("#/login");
        },
      },
      "Sign out",
    ),
  ]);
}

// -- sign-in pages --------------------------------------------------------------------

function authForm(title, fields, submitLabel, action, footer) {
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "card narrow", novalidate: true }, h("h1", {}, title), fields, error, submit, footer);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      await action();
      say("");
      go(home());
    } catch (err) {
      const rest = showFieldErrors(form, err.fields);
      if (!err.fields.length || rest.length) {
        error.textContent = err.message;
        error.hidden = false;
      }
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function input(type, attrs = {}) {
  return h("input", { type, required: true, ...attrs });
}

function loginView() {
  const email = input("email", { autocomplete: "username" });
  const password = input("password", { autocomplete: "current-password" });
  return authForm(
    "Sign in",
    [field("Email", email, { loc: "email" }), field("Password", password, { loc: "password" })],
    "Sign in",
    () => api.login(email.value, password.value),
    h(
      "p",
      { class: "alt" },
      h("a", { href: "#/register" }, "Register an organisation"),
      " · ",
      h("a", { href: "#/invite" }, "I have an invitation"),
    ),
  );
}

function registerView() {
  const name = input("text", { autocomplete: "name", maxlength: 200 });
  const email = input("email", { autocomplete: "email" });
  const password = input("password", { autocomplete: "new-password", minlength: 8 });
  const org = input("text", { maxlength: 200 });
  return authForm(
    "Register your organisation",
    [
      field("Your name", name, { loc: "name" }),
      field("Email", email, { loc: "email" }),
      field("Password", password, { loc: "password", hint: "At least 8 characters." }),
      field("Organisation", org, { loc: "org_name" }),
    ],
    "Create organisation",
    () => api.register({ name: name.value, email: email.value, password: password.value, org_name: org.value }),
    h("p", { class: "alt" }, h("a", { href: "#/login" }, "I already have an account")),
  );
}

function inviteView(query) {
  const token = input("text", { value: query.get("token") || "", autocomplete: "off" });
  const name = h("input", { type: "text", autocomplete: "name", maxlength: 200 });
  const password = input("password", { autocomplete: "new-password", minlength: 8 });
  // The invite token is a single-use secret: drop it from the address bar and history.
  if (query.get("token")) history.replaceState(null, "", `${location.pathname}#/invite`);
  return authForm(
    "Accept your invitation",
    [
      field("Invitation code", token, { loc: "token" }),
      field("Your name (optional)", name, { loc: "name" }),
      field("Choose a password", password, { loc: "password", hint: "At least 8 characters." }),
    ],
    "Join",
    () => api.acceptInvite(token.value.trim(), password.value, name.value.trim()),
    h("p", { class: "alt" }, h("a", { href: "#/login" }, "Sign in instead")),
  );
}

// -- routing -----------------------------------------------------------------------------

function showView(view) {
  if (current && current.close) current.close();
  current = view instanceof Node ? { el: view } : view;
  clear(root).append(current.el);
  const heading = root.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

let generation = 0;

async function route() {
  generation += 1;
  const mine = generation;
  // A slower, older navigation must not replace the page of a newer one.
  const show = (view) => {
    if (mine !== generation) {
      if (view && view.close) view.close();
      return;
    }
    showView(view);
  };
  const { parts, query } = parseHash();
  const section = parts[0] || "";
  if (keepNotice) keepNotice = false;
  else say("");
  renderNav();
  if (!api.signedIn()) {
    if (section === "register") return show(registerView());
    if (section === "invite") return show(inviteView(query));
    return show(loginView());
  }
  const me = api.me();
  if (["", "login", "register", "invite"].includes(section)) return go(home());
  try {
    if (section === "studio" && STAFF.has(me.role)) return show(await studioView(parts.slice(1), { go, say }));
    if (section === "admin" && ADMINS.has(me.role)) return show(await adminView(parts.slice(1), { go, say }));
    if (section === "chat") return show(await chatView(parts.slice(1), { go, say }));
  } catch (err) {
    if (!api.signedIn()) return undefined;
    return show(h("section", { class: "card" }, h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, err.message)));
  }
  return show(h("section", { class: "card" }, h("h1", {}, "Not found"), h("p", {}, "There is nothing here.")));
}

api.onSessionEnded((message) => {
  if (current && current.close) current.close();
  current = null;
  say(message, "warning", { next: true });
  go("#/login");
});

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (e) => {
  if (e.reason instanceof api.ApiError) {
    say(e.reason.message, "error");
    e.preventDefault();
  }
});
route();

document.querySelector(".skip")?.addEventListener("click", (e) => {
  e.preventDefault();
  root.focus();
});
