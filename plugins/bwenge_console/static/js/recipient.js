// Recipient chat: the organisation's released personas, my conversations, the chat.

import { request } from "./api.js";
import { chatPanel } from "./chat.js";
import { formatDate, h, text } from "./dom.js";

export async function chatView(parts) {
  const [personaId, sessionId] = parts;
  const personas = (await request("/personas")).filter((p) => p.status === "released" && p.is_active !== false);
  const list = h(
    "ul",
    { class: "persona-list", "aria-label": "Personas" },
    personas.map((p) =>
      h(
        "li",
        {},
        h(
          "a",
          {
            href: `#/chat/${encodeURIComponent(p.persona_id)}`,
            "aria-current": p.persona_id === personaId ? "page" : null,
          },
          text("strong", p.name),
          p.description ? text("span", p.description, { class: "hint" }) : null,
        ),
      ),
    ),
  );
  const aside = h(
    "aside",
    { class: "sidebar" },
    h("h2", {}, "Personas"),
    personas.length ? list : h("p", { class: "hint" }, "No persona has been released to you yet."),
  );
  const main = h("div", { class: "chat-main" });
  const el = h("div", { class: "layout" }, h("h1", { class: "visually-hidden" }, "Chat"), aside, main);
  const persona = personas.find((p) => p.persona_id === personaId);
  if (!persona) {
    main.append(
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Choose a persona"),
        h("p", {}, personaId ? "That persona is not available." : "Pick a persona to start a conversation."),
      ),
    );
    return { el };
  }

  const sessions = await request(`/sessions?persona_id=${encodeURIComponent(persona.persona_id)}`);
  const convos = h(
    "ul",
    { class: "conversation-list", "aria-label": "Conversations" },
    h("li", {}, h("a", { href: `#/chat/${encodeURIComponent(persona.persona_id)}`, class: "new" }, "+ New conversation")),
    sessions.sessions.filter((s) => s.message_count > 0 || s.session_id === sessionId).map((s) =>
      h(
        "li",
        {},
        h(
          "a",
          {
            href: `#/chat/${encodeURIComponent(persona.persona_id)}/${encodeURIComponent(s.session_id)}`,
            "aria-current": s.session_id === sessionId ? "page" : null,
          },
          text("span", s.title || "(empty)"),
          h("span", { class: "hint" }, formatDate(s.updated_at)),
        ),
      ),
    ),
  );
  aside.append(h("h2", {}, "Conversations"), convos);

  const panel = chatPanel({
    persona,
    sessionId: sessionId || null,
    mode: typeof WebSocket === "function" ? "ws" : "sse",
    onSession(id) {
      // Reflect the session in the address without re-rendering the view.
      history.replaceState(null, "", `#/chat/${encodeURIComponent(persona.persona_id)}/${encodeURIComponent(id)}`);
    },
  });
  main.append(
    h(
      "header",
      { class: "chat-header" },
      text("h2", persona.name, { lang: (persona.tone && persona.tone.language) || null }),
      persona.description ? text("p", persona.description, { class: "hint" }) : null,
    ),
    panel.el,
  );
  setTimeout(panel.focus, 0);
  return { el, close: panel.close };
}
