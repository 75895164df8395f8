// Organisation admin: members and invites, API keys, plan and usage, the weekly
// report as charts, the audit log, the personas' avatars.

import { me, optional, request } from "./api.js";
import { barChart } from "./charts.js";
import { field, formatBytes, formatDate, h, showFieldErrors, text } from "./dom.js";
import { avatarViewer } from "./avatar.js";

const TABS = [
  ["members", "Members"],
  ["keys", "API keys"],
  ["plan", "Plan and usage"],
  ["reports", "Reports"],
  ["audit", "Audit log"],
  ["avatars", "Avatars"],
];
const ROLES = ["recipient", "expert", "admin"];

export async function adminView(parts) {
  const tab = TABS.some(([k]) => k === parts[0]) ? parts[0] : "members";
  const org = me().org_id;
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Organisation" },
    TABS.map(([key, label]) => h("a", { href: `#/admin/${key}`, "aria-current": key === tab ? "page" : null }, label)),
  );
  const views = { members, keys, plan, reports, audit, avatars };
  const body = await views[tab](org);
  return h("div", { class: "admin" }, h("h1", {}, "Organisation"), tabs, body);
}

function card(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

function formWithErrors(form, submit, action) {
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  form.append(error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      await action();
      showFieldErrors(form, []);
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

function roleSelect(value, roles = ROLES) {
  return h("select", {}, roles.map((r) => h("option", { value: r, selected: r === value }, r)));
}

/** A secret shown once, with a copy button. */
function shownOnce(label, secret) {
  const box = h("input", { type: "text", readonly: true, value: secret, class: "secret", "aria-label": label });
  return h(
    "div",
    { class: "once", role: "status" },
    h("p", {}, h("strong", {}, label), " — shown only now; copy it somewhere safe."),
    box,
    h(
      "button",
      {
        type: "button",
        onclick: async () => {
          box.select();
          try {
            await navigator.clipboard.writeText(secret);
          } catch {
            /* the selection is there to copy by hand */
          }
        },
      },
      "Copy",
    ),
  );
}

// -- members and invites ---------------------------------------------------------------------

async function members(org) {
  const list = await request(`/orgs/${org}/members`);
  const mine = me();
  const rows = list.map((m) => {
    const self = m.user_id === mine.user_id;
    const owner = m.role === "owner";
    const role = owner || self ? h("span", {}, m.role) : roleSelect(m.role);
    if (role.tagName === "SELECT") {
      role.setAttribute("aria-label", `Role of ${m.name || m.email}`);
      role.addEventListener("change", async () => {
        await request(`/orgs/${org}/members/${m.user_id}`, { method: "PATCH", body: { role: role.value } });
      });
    }
    const remove =
      owner || self
        ? null
        : h("button", { type: "button", class: "danger", "aria-label": `Remove ${m.name || m.email}` }, "Remove");
    remove?.addEventListener("click", async () => {
      if (remove.dataset.confirm !== "yes") {
        remove.dataset.confirm = "yes";
        remove.textContent = "Confirm removal";
        return;
      }
      await request(`/orgs/${org}/members/${m.user_id}`, { method: "DELETE" });
      remove.closest("tr").remove();
    });
    return h(
      "tr",
      {},
      h("td", {}, text("span", m.name)),
      h("td", {}, text("span", m.email)),
      h("td", {}, role),
      h("td", {}, m.status),
      h("td", {}, remove),
    );
  });
  const email = h("input", { type: "email", required: true });
  const name = h("input", { type: "text", maxlength: 200 });
  const role = roleSelect("recipient");
  const submit = h("button", { type: "submit", class: "primary" }, "Invite");
  const result = h("div", { class: "invite-result" });
  const form = h(
    "form",
    { class: "inline-form", novalidate: true },
    field("Email", email, { loc: "email" }),
    field("Name", name, { loc: "name" }),
    field("Role", role, { loc: "role" }),
    submit,
  );
  formWithErrors(form, submit, async () => {
    const body = { email: email.value, role: role.value };
    if (name.value.trim()) body.name = name.value.trim();
    const invite = await request(`/orgs/${org}/invite`, { method: "POST", body });
    const link = `${location.origin}${location.pathname}#/invite?token=${encodeURIComponent(invite.invite_token)}`;
    result.replaceChildren(
      h("p", {}, "Invitation created for ", text("strong", invite.email), `; it expires ${formatDate(invite.expires_at)}.`),
      shownOnce("Invitation link", link),
      h("p", { class: "hint" }, "Or give them the code: "),
      shownOnce("Invitation code", invite.invite_token),
    );
    email.value = name.value = "";
  });
  return h(
    "div",
    {},
    card(
      "Members",
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ["Name", "Email", "Role", "Status", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows),
      ),
    ),
    card("Invite someone", form, result),
  );
}

// -- API keys --------------------------------------------------------------------------------

async function keys(org) {
  const tbody = h("tbody");
  async function load() {
    const list = await request(`/orgs/${org}/api-keys`);
    tbody.replaceChildren(
      ...list.map((k) => {
        const revoke = k.is_active ? h("button", { type: "button", class: "danger" }, "Revoke") : null;
        revoke?.addEventListener("click", async () => {
          await request(`/orgs/${org}/api-keys/${k.key_id}`, { method: "DELETE" });
          await load();
        });
        return h(
          "tr",
          {},
          h("td", {}, text("span", k.name)),
          h("td", {}, h("code", {}, `${k.prefix}…`)),
          h("td", {}, k.role),
          h("td", {}, formatDate(k.created_at)),
          h("td", {}, k.expires_at ? formatDate(k.expires_at) : "never"),
          h("td", {}, k.is_active ? "active" : "revoked"),
          h("td", {}, revoke),
        );
      }),
    );
  }
  await load();
  const name = h("input", { type: "text", required: true, maxlength: 200 });
  const role = roleSelect("recipient", ["recipient", "expert", "admin"]);
  const days = h("input", { type: "number", min: 1, max: 3650 });
  const submit = h("button", { type: "submit", class: "primary" }, "Create key");
  const shown = h("div");
  const form = h(
    "form",
    { class: "inline-form", novalidate: true },
    field("Name", name, { loc: "name" }),
    field("Role", role, { loc: "role" }),
    field("Expires after (days)", days, { loc: "expires_in_days" }),
    submit,
  );
  formWithErrors(form, submit, async () => {
    const body = { name: name.value, role: role.value };
    if (days.value) body.expires_in_days = Number(days.value);
    const created = await request(`/orgs/${org}/api-keys`, { method: "POST", body });
    shown.replaceChildren(shownOnce(`API key “${created.name}”`, created.key));
    name.value = days.value = "";
    await load();
  });
  return h(
    "div",
    {},
    card("New API key", form, shown),
    card(
      "API keys",
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ["Name", "Key", "Role", "Created", "Expires", "State", ""].map((t) => h("th", { scope: "col" }, t)))),
        tbody,
      ),
    ),
  );
}

// -- plan and usage --------------------------------------------------------------------------

const QUOTA_LABELS = { messages: "Messages this month", storage: "Storage", members: "Members", personas: "Personas" };

async function plan() {
  const [current, plans] = await Promise.all([optional("/subscriptions/current"), optional("/plans")]);
  if (!current) return card("Plan and usage", h("p", {}, "Billing is not enabled on this server."));
  const meters = Object.entries(current.quotas || {}).map(([key, q]) => {
    const fmt = (v) => (q.unit === "bytes" ? formatBytes(v) : String(v));
    const limit = q.unlimited ? "unlimited" : fmt(q.limit);
    return h(
      "div",
      { class: "meter-row" },
      h("span", {}, QUOTA_LABELS[key] || key),
      q.unlimited
        ? h("span", {}, `${fmt(q.used)} used`)
        : h("meter", { min: 0, max: 100, value: Math.min(100, q.percentage), low: 70, high: 90, optimum: 0, "aria-label": `${QUOTA_LABELS[key] || key}: ${q.percentage} %` }),
      h("span", {}, `${fmt(q.used)} of ${limit}`),
    );
  });
  return h(
    "div",
    {},
    card(
      "Plan and usage",
      h("p", {}, "Plan: ", text("strong", current.plan_name || current.plan), ` (${current.status}) · period ${formatDate(current.period.start)} – ${formatDate(current.period.end)}`),
      h("div", { class: "meters" }, meters),
    ),
    plans
      ? card(
          "Plans",
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, ["Plan", "Price", "Messages / month", "Storage (MB)", "Members"].map((t) => h("th", { scope: "col" }, t)))),
            h(
              "tbody",
              {},
              plans.plans.map((p) =>
                h(
                  "tr",
                  { "aria-current": p.id === current.plan ? "true" : null },
                  h("td", {}, text("span", p.name)),
                  h("td", {}, String(p.price)),
                  h("td", {}, String(p.quotas.messages_per_month ?? "unlimited")),
                  h("td", {}, String(p.quotas.storage_mb ?? "unlimited")),
                  h("td", {}, String(p.quotas.members ?? "unlimited")),
                ),
              ),
            ),
          ),
        )
      : null,
  );
}

function metric(label, value, key) {
  return h("div", {}, h("dt", {}, label), h("dd", { "data-metric": key || null }, String(value)));
}

// -- reports -----------------------------------------------------------------------------------

async function reports(org) {
  const holder = h("div", { class: "report" });
  const week = h("select", { id: "week-offset" }, [0, 1, 2, 3, 4].map((n) => h("option", { value: n }, n === 0 ? "This week" : n === 1 ? "Last week" : `${n} weeks ago`)));
  async function load() {
    const r = await request(`/orgs/${org}/reports/weekly?week_offset=${week.value}`);
    const daily = Object.entries(r.usage_stats.daily_messages || {}).map(([d, n]) => ({
      label: new Date(`${d}T00:00:00Z`).toLocaleDateString(undefined, { weekday: "short", timeZone: "UTC" }),
      value: n,
    }));
    const personas = (r.top_personas || []).map((p) => ({ label: p.name, value: p.interaction_count }));
    const questions = (r.top_questions || []).map((q) => ({ label: q.question, value: q.count }));
    holder.replaceChildren(
      h(
        "dl",
        { class: "metrics" },
        metric("Messages", r.total_messages, "total_messages"),
        metric("Active learners", r.active_users, "active_users"),
        metric("Conversations", r.usage_stats.total_conversations),
        metric("Busiest day", r.usage_stats.peak_usage_day || "–"),
      ),
      h("figure", { "data-chart": "daily" }, barChart(daily, { title: "Messages per day" }), h("figcaption", {}, "Messages per day")),
      h("figure", { "data-chart": "personas" }, barChart(personas, { title: "Messages per persona", horizontal: true }), h("figcaption", {}, "Usage per persona")),
      h("figure", { "data-chart": "questions" }, barChart(questions, { title: "Top questions", horizontal: true }), h("figcaption", {}, "Top questions")),
    );
  }
  week.addEventListener("change", load);
  await load();
  return card("Weekly report", field("Week", week), holder);
}

// -- audit log -----------------------------------------------------------------------------

async function audit(org) {
  const action = h("input", { type: "text", placeholder: "persona. or member.join", maxlength: 64 });
  const actor = h("input", { type: "text", maxlength: 36 });
  const objectType = h("input", { type: "text", maxlength: 40 });
  const tbody = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Show older entries");
  const summary = h("p", { class: "hint", role: "status" });
  let offset = 0;
  const names = new Map((await request(`/orgs/${org}/members`)).map((m) => [m.user_id, m.name || m.email]));
  async function load(reset) {
    if (reset) {
      offset = 0;
      tbody.replaceChildren();
    }
    const q = new URLSearchParams({ limit: "50", offset: String(offset) });
    if (action.value.trim()) q.set("action", action.value.trim());
    if (actor.value.trim()) q.set("actor_id", actor.value.trim());
    if (objectType.value.trim()) q.set("object_type", objectType.value.trim());
    const page = await request(`/orgs/${org}/audit?${q}`);
    tbody.append(
      ...page.entries.map((e) =>
        h(
          "tr",
          { "data-action": e.action },
          h("td", {}, formatDate(e.at)),
          h("td", {}, text("code", e.action)),
          h("td", {}, text("span", names.get(e.actor_id) || e.actor_id || "system", { title: e.actor_id || "" })),
          h("td", {}, text("span", [e.object_type, e.object_id].filter(Boolean).join(" "))),
          h("td", {}, text("code", Object.keys(e.details || {}).length ? JSON.stringify(e.details) : "")),
        ),
      ),
    );
    summary.textContent = `${tbody.children.length} of ${page.total} entries`;
    more.hidden = page.next_offset === null || page.next_offset === undefined;
    offset = page.next_offset || 0;
  }
  const submit = h("button", { type: "submit", class: "primary" }, "Filter");
  const form = h(
    "form",
    { class: "inline-form" },
    field("Action", action, { hint: "End with a dot for a prefix." }),
    field("Actor id", actor),
    field("Object type", objectType),
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    load(true);
  });
  more.addEventListener("click", () => load(false));
  await load(true);
  return card(
    "Audit log",
    form,
    summary,
    h(
      "table",
      { class: "audit" },
      h("thead", {}, h("tr", {}, ["When", "Action", "Actor", "Object", "Details"].map((t) => h("th", { scope: "col" }, t)))),
      tbody,
    ),
    more,
  );
}

// -- avatars -------------------------------------------------------------------------------

async function avatars() {
  const personas = await request("/personas");
  const items = await Promise.all(
    personas.map(async (p) => {
      const avatar = await optional(`/3d/persona/${encodeURIComponent(p.persona_id)}`);
      if (!avatar) return null;
      const viewer = avatar.is_default ? null : avatarViewer(avatar);
      return h(
        "li",
        { class: "avatar-item" },
        text("h3", p.name),
        avatar.is_default
          ? h("p", { class: "hint" }, "No avatar uploaded; the default one is used.")
          : h("p", {}, text("span", avatar.name || "Avatar"), ` · ${formatBytes(avatar.size_bytes)} · animations: `, text("span", (avatar.animations || []).join(", "))),
        viewer,
      );
    }),
  );
  const shown = items.filter(Boolean);
  return card("Avatars", shown.length ? h("ul", { class: "avatars" }, shown) : h("p", {}, "Avatars are not enabled on this server."));
}
