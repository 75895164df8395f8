// The expert studio: personas, the persona editor, knowledge uploads with live
// status, the readiness checklist and release, a preview chat, exam results.

import { me, optional, request, upload } from "./api.js";
import { chatPanel } from "./chat.js";
import { append, clear, field, formatBytes, formatDate, h, showFieldErrors, text } from "./dom.js";

const POLL_MS = 1000;

export async function studioView(parts, app) {
  if (!parts.length) return listView();
  if (parts[0] === "new") return editorPage(null, app);
  const persona = await request(`/personas/${encodeURIComponent(parts[0])}`);
  return editorPage(persona, app);
}

function statusBadge(status) {
  return h("span", { class: `badge badge-${status}` }, status);
}

async function listView() {
  const personas = await request("/personas");
  const rows = personas.map((p) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/studio/${encodeURIComponent(p.persona_id)}` }, text("span", p.name))),
      h("td", {}, statusBadge(p.status || "draft")),
      h("td", {}, formatDate(p.created_at)),
    ),
  );
  return h(
    "section",
    { class: "card" },
    h("div", { class: "row spread" }, h("h1", {}, "Personas"), h("a", { href: "#/studio/new", class: "button primary" }, "New persona")),
    personas.length
      ? h(
          "table",
          {},
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Created"))),
          h("tbody", {}, rows),
        )
      : h("p", {}, "No personas yet. Create one and teach it with your material."),
  );
}

// -- the persona form ------------------------------------------------------------------

const lines = (value) =>
  value
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean);

function dialogRow(dialog = {}) {
  const question = h("textarea", { rows: 2, "data-loc": "sample_prompts", class: "dialog-q", dir: "auto" });
  question.value = typeof dialog === "string" ? dialog : dialog.question || "";
  const expected = h("textarea", { rows: 2, class: "dialog-a", dir: "auto" });
  expected.value = (typeof dialog === "object" && dialog.expected_answer) || "";
  const row = h(
    "fieldset",
    { class: "dialog" },
    h("legend", {}, "Sample dialog"),
    field("Question a learner might ask", question),
    field("Expected answer (optional)", expected),
  );
  row.append(h("button", { type: "button", class: "link", onclick: () => row.remove() }, "Remove this dialog"));
  return row;
}

function personaForm(persona, onSaved) {
  const p = persona || {};
  const tone = p.tone || {};
  const rules = p.rules || {};
  const c = {
    name: h("input", { type: "text", value: p.name || "", maxlength: 200, dir: "auto" }),
    description: h("textarea", { rows: 3, dir: "auto" }),
    style: h("input", { type: "text", value: tone.style || "", placeholder: "friendly" }),
    formality: h("input", { type: "text", value: tone.formality || "", placeholder: "casual" }),
    language: h("input", { type: "text", value: tone.language || "", placeholder: "en", maxlength: 80 }),
    greeting: h("input", { type: "text", value: tone.greeting || "", dir: "auto" }),
    signOff: h("input", { type: "text", value: tone.sign_off || "", dir: "auto" }),
    voice: h("input", { type: "text", value: tone.voice || "", dir: "auto" }),
    guidelines: h("textarea", { rows: 3, dir: "auto" }),
    topics: h("input", { type: "text", value: (rules.topics || []).join(", "), dir: "auto" }),
    maxSentences: h("input", { type: "number", min: 1, max: 30, value: rules.max_answer_sentences ?? "" }),
    safety: h("textarea", { rows: 3, dir: "auto" }),
  };
  c.description.value = p.description || "";
  c.guidelines.value = (rules.guidelines || []).join("\n");
  c.safety.value = (p.safety_rules || []).join("\n");
  const dialogs = h("div", { class: "dialogs" }, (p.sample_prompts || []).map(dialogRow));
  if (!persona) dialogs.append(dialogRow());
  const saveButton = h("button", { type: "submit", class: "primary" }, persona ? "Save changes" : "Create persona");
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const saved = h("p", { class: "saved", role: "status" });

  const form = h(
    "form",
    { class: "persona-form", novalidate: true },
    field("Name", c.name, { loc: "name" }),
    field("Description", c.description, { loc: "description" }),
    h(
      "fieldset",
      {},
      h("legend", {}, "Tone"),
      h(
        "div",
        { class: "grid" },
        field("Style", c.style, { loc: "tone.style" }),
        field("Formality", c.formality, { loc: "tone.formality" }),
        field("Language", c.language, { loc: "tone.language", hint: "e.g. en, fr, rw, ar" }),
        field("Greeting", c.greeting, { loc: "tone.greeting" }),
        field("Sign-off", c.signOff, { loc: "tone.sign_off" }),
        field("Voice", c.voice, { loc: "tone.voice" }),
      ),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Rules"),
      field("Guidelines (one per line)", c.guidelines, { loc: "rules.guidelines" }),
      field("Topics (comma separated)", c.topics, { loc: "rules.topics" }),
      field("Longest answer, in sentences", c.maxSentences, { loc: "rules.max_answer_sentences" }),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Sample dialogs"),
      dialogs,
      h("button", { type: "button", onclick: () => dialogs.append(dialogRow()) }, "Add a sample dialog"),
    ),
    field("Safety rules (one per line)", c.safety, { loc: "safety_rules" }),
    error,
    h("div", { class: "row" }, saveButton, saved),
  );

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const toneOut = {};
    for (const [key, ctl] of [
      ["style", c.style],
      ["formality", c.formality],
      ["language", c.language],
      ["greeting", c.greeting],
      ["sign_off", c.signOff],
      ["voice", c.voice],
    ]) {
      if (ctl.value.trim()) toneOut[key] = ctl.value.trim();
    }
    const rulesOut = {
      guidelines: lines(c.guidelines.value),
      topics: c.topics.value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    };
    if (c.maxSentences.value !== "") rulesOut.max_answer_sentences = Number(c.maxSentences.value);
    const body = {
      name: c.name.value,
      description: c.description.value,
      tone: toneOut,
      rules: rulesOut,
      sample_prompts: [...dialogs.querySelectorAll(".dialog")]
        .map((row) => {
          const q = row.querySelector(".dialog-q").value.trim();
          const a = row.querySelector(".dialog-a").value.trim();
          if (!q && !a) return null;
          return a ? { question: q, expected_answer: a } : { question: q };
        })
        .filter(Boolean),
      safety_rules: lines(c.safety.value),
    };
    saveButton.disabled = true;
    error.hidden = true;
    saved.textContent = "";
    try {
      const result = persona
        ? await request(`/personas/${encodeURIComponent(persona.persona_id)}`, { method: "PUT", body })
        : await request("/personas", { method: "POST", body });
      showFieldErrors(form, []);
      saved.textContent = "Saved.";
      onSaved(result);
    } catch (err) {
      const rest = showFieldErrors(form, err.fields);
      if (!err.fields.length || rest.length) {
        error.textContent = err.message;
        error.hidden = false;
      }
    } finally {
      saveButton.disabled = false;
    }
  });
  return form;
}

// -- knowledge ----------------------------------------------------------------------------

function knowledgeSection(persona, onChange) {
  const files = h("input", { type: "file", multiple: true, id: "knowledge-files", class: "visually-hidden-input" });
  const zone = h(
    "div",
    { class: "dropzone", "data-testid": "dropzone" },
    h("p", {}, "Drop PDF, Word, PowerPoint, text or audio files here, or "),
    h("label", { for: "knowledge-files", class: "button" }, "choose files"),
    files,
  );
  const uploads = h("ul", { class: "uploads", "aria-label": "Uploads", "aria-live": "polite" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "sources" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Title", "File", "Status", "Passages", "Size", ""].map((t) => h("th", { scope: "col" }, t)),
      ),
    ),
    tbody,
  );
  let timer = null;

  async function refresh() {
    const sources = await request(`/knowledge/sources?persona_id=${encodeURIComponent(persona.persona_id)}`);
    tbody.replaceChildren(
      ...sources.map((s) => {
        const del = h("button", { type: "button", class: "danger" }, "Delete");
        del.addEventListener("click", async () => {
          if (del.dataset.confirm !== "yes") {
            del.dataset.confirm = "yes";
            del.textContent = "Confirm delete";
            return;
          }
          del.disabled = true;
          await request(`/knowledge/${encodeURIComponent(s.source_id)}`, { method: "DELETE" });
          await refresh();
          onChange();
        });
        return h(
          "tr",
          { "data-source-id": s.source_id, "data-status": s.status },
          h("td", {}, text("span", s.title)),
          h("td", {}, text("span", s.filename || "")),
          h("td", {}, statusBadge(s.status), s.error_message ? text("p", s.error_message, { class: "field-error" }) : null),
          h("td", {}, String(s.chunk_count ?? "")),
          h("td", {}, formatBytes(s.size_bytes)),
          h("td", {}, del),
        );
      }),
    );
    clearTimeout(timer);
    if (sources.some((s) => s.status === "pending" || s.status === "processing")) {
      timer = setTimeout(() => refresh().then(onChange).catch(() => {}), POLL_MS);
    }
    return sources;
  }

  async function send(file) {
    const bar = h("progress", { max: 1, value: 0, "aria-label": `Upload progress for ${file.name}` });
    const state = h("span", { class: "upload-status" }, "uploading");
    const row = h("li", { class: "upload", "data-file": file.name }, text("span", file.name, { class: "file-name" }), bar, state);
    uploads.append(row);
    const form = new FormData();
    form.append("file", file);
    form.append("persona_id", persona.persona_id);
    try {
      const source = await upload("/knowledge/upload", form, (f) => {
        bar.value = f;
      });
      bar.value = 1;
      row.dataset.sourceId = source.source_id;
      for (;;) {
        state.textContent = source.duplicate ? "already uploaded" : "processing";
        row.dataset.status = "processing";
        const s = await request(`/knowledge/${encodeURIComponent(source.source_id)}/status`);
        if (s.status === "ready" || s.status === "failed") {
          row.dataset.status = s.status;
          state.textContent = s.status === "ready" ? `ready · ${s.chunk_count} passages` : `failed: ${s.error_message || "unknown reason"}`;
          break;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } catch (err) {
      row.dataset.status = "failed";
      state.textContent = `failed: ${err.message}`;
    }
    await refresh();
    onChange();
  }

  const take = (list) => {
    for (const file of list) send(file);
  };
  files.addEventListener("change", () => {
    take([...files.files]);
    files.value = "";
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    take([...e.dataTransfer.files]);
  });

  refresh().catch(() => {});
  return {
    el: h("section", { class: "card", "aria-labelledby": "knowledge-h" }, h("h2", { id: "knowledge-h" }, "Knowledge"), zone, uploads, table),
    close: () => clearTimeout(timer),
  };
}

// -- readiness and release ------------------------------------------------------------------

function readinessSection(persona, app) {
  const out = h("div", { class: "readiness", "aria-live": "polite" });
  const check = h("button", { type: "button" }, "Check readiness");
  const release = h("button", { type: "button", class: "primary", disabled: true }, "Release to learners");
  const withdraw = h("button", { type: "button" }, "Withdraw");
  const status = h("p", { class: "release-status" }, "Status: ", statusBadge(persona.status || "draft"));
  const admin = ["owner", "admin"].includes(me().role);
  const override = h("input", { type: "checkbox", id: "release-override" });
  const reason = h("input", { type: "text", id: "release-reason", maxlength: 1000 });
  const overrideBox = admin
    ? h("div", { class: "override" }, h("label", { for: "release-override" }, override, " Release even though it is not ready"), field("Reason", reason, { loc: "reason" }))
    : null;

  async function run() {
    check.disabled = true;
    out.replaceChildren(h("p", { class: "hint" }, "Checking (the sample dialogs are answered now)…"));
    try {
      const r = await request(`/personas/${encodeURIComponent(persona.persona_id)}/readiness`);
      const item = (ok, label) => h("li", { class: ok ? "ok" : "missing" }, h("span", { "aria-hidden": "true" }, ok ? "✓ " : "✗ "), h("span", { class: "visually-hidden" }, ok ? "Done: " : "Missing: "), label);
      const need = r.requirements || {};
      append(clear(out), [
        h(
          "ul",
          { class: "checklist" },
          item(r.knowledge.ready_sources >= (need.min_ready_sources ?? 1), `${r.knowledge.ready_sources} ready source(s) of ${r.knowledge.sources}`),
          item(r.knowledge.chunks >= (need.min_chunks ?? 1), `${r.knowledge.chunks} passage(s) to quote`),
          item(r.sample_dialogs.length >= (need.min_sample_dialogs ?? 1), `${r.sample_dialogs.length} sample dialog(s)`),
          r.sample_dialogs.map((d) => item(d.answered, h("span", {}, "Answered from the material: ", text("q", d.question)))),
        ),
        r.missing.length ? h("ul", { class: "missing-list" }, r.missing.map((m) => text("li", m))) : h("p", { class: "ok" }, "Ready to release."),
        r.notes.length ? h("ul", { class: "hint" }, r.notes.map((m) => text("li", m))) : null,
      ]);
      out.dataset.ready = String(r.ready);
      release.disabled = !r.ready && !admin;
    } catch (err) {
      out.replaceChildren(h("p", { role: "alert" }, err.message));
    } finally {
      check.disabled = false;
    }
  }

  check.addEventListener("click", run);
  release.addEventListener("click", async () => {
    const body = override.checked ? { override: true, reason: reason.value } : {};
    release.disabled = true;
    try {
      const result = await request(`/personas/${encodeURIComponent(persona.persona_id)}/release`, { method: "POST", body });
      persona.status = result.status;
      status.replaceChildren("Status: ", statusBadge(result.status));
      app.say(`${result.name} is released to your organisation's learners.`);
    } catch (err) {
      if (overrideBox) showFieldErrors(overrideBox, err.fields);
      out.append(h("p", { role: "alert", class: "form-error" }, err.message));
      release.disabled = false;
    }
  });
  withdraw.addEventListener("click", async () => {
    const result = await request(`/personas/${encodeURIComponent(persona.persona_id)}/withdraw`, { method: "POST" });
    persona.status = result.status;
    status.replaceChildren("Status: ", statusBadge(result.status));
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "release-h" },
    h("h2", { id: "release-h" }, "Readiness and release"),
    status,
    h("div", { class: "row" }, check, release, withdraw),
    overrideBox,
    out,
  );
}

// -- exam results (shown once the evaluation API answers) -----------------------------------

async function examSection(persona) {
  const result = await optional(`/personas/${encodeURIComponent(persona.persona_id)}/exam/result`).catch(() => null);
  if (!result) return null;
  const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(Number(v) * 100)} %`);
  const metrics = [
    ["Questions", result.questions],
    ["Pass rate", pct(result.pass_rate)],
    ["Right source first", pct(result.hit_at_1)],
    ["Right source in top 5", pct(result.hit_at_5)],
    ["Keyword coverage", pct(result.keyword_coverage)],
    ["Refusal precision", pct(result.refusal_precision)],
    ["Refusal recall", pct(result.refusal_recall)],
  ];
  return h(
    "section",
    { class: "card", "aria-labelledby": "exam-h", "data-testid": "exam" },
    h("h2", { id: "exam-h" }, "Exam results"),
    h("p", { class: "hint" }, `Last run ${formatDate(result.ran_at)}`),
    h("dl", { class: "metrics" }, metrics.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, String(v ?? "–"))))),
    (result.failures || []).length
      ? h(
          "details",
          {},
          h("summary", {}, `${result.failures.length} question(s) failed`),
          h(
            "ul",
            {},
            result.failures.map((f) =>
              h(
                "li",
                {},
                text("strong", f.question),
                f.expected_source ? h("span", {}, " expected ", text("q", f.expected_source)) : null,
                f.answer ? text("p", f.answer, { class: "hint" }) : null,
              ),
            ),
          ),
        )
      : null,
  );
}

// -- the page ---------------------------------------------------------------------------------

async function editorPage(persona, app) {
  const heading = text("h1", persona ? persona.name : "New persona");
  const page = h("div", { class: "studio" }, h("p", {}, h("a", { href: "#/studio" }, "← All personas")), heading);
  const closers = [];
  const details = h(
    "section",
    { class: "card", "aria-labelledby": "details-h" },
    h("h2", { id: "details-h" }, "Details"),
    personaForm(persona, (saved) => {
      if (!persona) {
        app.go(`#/studio/${encodeURIComponent(saved.persona_id)}`);
        return;
      }
      Object.assign(persona, saved);
      heading.textContent = saved.name;
    }),
  );
  page.append(details);
  if (persona) {
    const knowledge = knowledgeSection(persona, () => {});
    closers.push(knowledge.close);
    page.append(knowledge.el, readinessSection(persona, app));
    const preview = chatPanel({ persona, mode: "sse" });
    closers.push(preview.close);
    page.append(
      h(
        "section",
        { class: "card", "aria-labelledby": "preview-h" },
        h("h2", { id: "preview-h" }, "Preview"),
        h("p", { class: "hint" }, "Ask the persona as a learner would, before you release it. Preview conversations are yours only."),
        preview.el,
      ),
    );
    const exam = await examSection(persona);
    if (exam) page.append(exam);
  }
  return { el: page, close: () => closers.forEach((c) => c()) };
}
