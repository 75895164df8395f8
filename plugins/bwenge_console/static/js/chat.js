// A conversation with a persona: over /ws/chat (typing, deltas, reset, final
// message; reconnects and resumes mid-answer), or over Server-Sent Events
// (POST /ai/respond/stream) for previews of drafts and where WebSockets are blocked.

import { ApiError, endSession, freshToken, request, streamAnswer } from "./api.js";
import { h, isRtl, text } from "./dom.js";

const RECONNECT_MS = [300, 1000, 2000, 4000, 8000];

export function citationList(citations) {
  if (!citations || !citations.length) return null;
  return h(
    "ol",
    { class: "citations", "aria-label": "Sources" },
    citations.map((c) => {
      const where = [];
      if (c.section) where.push(`section ${c.section}`);
      if (c.page) where.push(`page ${c.page}`);
      if (c.slide) where.push(`slide ${c.slide}`);
      return h(
        "li",
        { class: "citation" },
        text("span", c.title || "Untitled source", { class: "citation-title" }),
        where.length ? h("span", { class: "citation-where" }, ` · ${where.join(" · ")}`) : null,
        text("blockquote", c.text || "", { class: "citation-quote" }),
      );
    }),
  );
}

function bubble(sender, content, metadata, lang) {
  const mine = sender === "user";
  const el = h(
    "li",
    { class: `msg ${mine ? "msg-user" : "msg-persona"}`, "data-sender": sender },
    h("span", { class: "visually-hidden" }, mine ? "You: " : "Persona: "),
    text("p", content, { class: "msg-text", lang: mine ? null : lang || null }),
  );
  const cites = citationList(metadata && metadata.citations);
  if (cites) el.append(cites);
  if (metadata && metadata.complete === false) {
    el.append(h("p", { class: "hint" }, "This answer was interrupted."));
  }
  return el;
}

/**
 * chatPanel({persona, sessionId, mode: "ws" | "sse", onSession})
 * -> {el, close()}. ``onSession(id)`` is told the session id once known.
 */
export function chatPanel({ persona, sessionId = null, mode = "ws", onSession = () => {} }) {
  const lang = (persona.tone && persona.tone.language) || "";
  const log = h("ol", { class: "chat-log", "aria-live": "polite", "aria-label": "Conversation" });
  const status = h("p", { class: "chat-status", role: "status" });
  const typing = h("p", { class: "typing", hidden: true }, `${persona.name} is typing…`);
  const input = h("textarea", {
    id: "chat-input",
    rows: 2,
    required: true,
    maxlength: 4000,
    dir: "auto",
    placeholder: "Ask a question",
  });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const form = h(
    "form",
    { class: "chat-form" },
    h("label", { for: "chat-input", class: "visually-hidden" }, "Your question"),
    input,
    send,
  );
  const el = h(
    "section",
    {
      class: "chat",
      lang: lang || null,
      dir: isRtl(lang) ? "rtl" : null,
      "data-transport": mode,
      "aria-label": `Chat with ${persona.name}`,
    },
    status,
    log,
    typing,
    form,
  );

  const seen = new Set(); // stored message ids shown already
  let streaming = null; // the persona bubble being written
  let pending = []; // questions shown locally, waiting for their echo
  const queued = []; // questions asked before the socket was ready
  let ws = null;
  let closed = false;
  let attempt = 0;
  let everOpened = false;
  let failedOpens = 0;

  // At most one scroll per frame, after the text is in: scrolling forces a layout,
  // and a fast answer sends many deltas per frame.
  let scrollQueued = false;
  const scroll = () => {
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      log.scrollTop = log.scrollHeight;
    });
  };

  function showError(message) {
    log.append(h("li", { class: "msg msg-error", role: "alert" }, text("p", message)));
    scroll();
  }

  function streamBubble() {
    if (!streaming) {
      streaming = bubble("persona", "", null, lang);
      streaming.classList.add("streaming");
      log.append(streaming);
    }
    return streaming;
  }

  function finalMessage(message) {
    if (message.message_id && seen.has(message.message_id)) return;
    if (message.message_id) seen.add(message.message_id);
    const done = bubble(message.sender, message.content, message.metadata, lang);
    if (message.sender === "persona" && streaming) {
      streaming.replaceWith(done);
      streaming = null;
    } else if (message.sender === "user" && !message.message_id) {
      const local = pending.findIndex((p) => p.dataset.content === message.content);
      if (local >= 0) {
        pending[local].classList.remove("pending");
        pending.splice(local, 1);
        return;
      }
      log.append(done);
    } else {
      log.append(done);
    }
    scroll();
  }

  function handle(frame) {
    switch (frame.type) {
      case "session_info":
        attempt = 0;
        if (frame.session_id !== sessionId) {
          sessionId = frame.session_id;
          onSession(sessionId);
        }
        status.textContent = "";
        el.dataset.state = "connected";
        if (!frame.answering && streaming) {
          streaming.remove();
          streaming = null;
        }
        performance.mark("console:chat-ready");
        while (queued.length && ws) ws.send(JSON.stringify({ type: "user_message", content: queued.shift() }));
        break;
      case "message":
        finalMessage(frame.message);
        break;
      case "typing":
        typing.hidden = !frame.is_typing;
        break;
      case "delta": {
        const p = streamBubble().querySelector(".msg-text");
        p.textContent += frame.text;
        scroll();
        break;
      }
      case "reset":
        if (streaming) streaming.querySelector(".msg-text").textContent = "";
        break;
      case "animation":
        el.dataset.animation = frame.animation;
        break;
      case "error":
        typing.hidden = true;
        if (streaming && !streaming.querySelector(".msg-text").textContent) {
          streaming.remove();
          streaming = null;
        }
        showError(frame.message || "Something went wrong.");
        break;
      default:
        break;
    }
  }

  // -- WebSocket ---------------------------------------------------------------------

  let connecting = false;

  async function connect() {
    if (closed || ws || connecting) return;
    connecting = true;
    let token;
    try {
      token = await freshToken();
    } catch {
      return;
    } finally {
      connecting = false;
    }
    const params = new URLSearchParams({ persona_id: persona.persona_id });
    if (sessionId) params.set("session_id", sessionId);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws/chat?${params}`);
    ws = socket;
    let opened = false; // a session_info arrived: the socket really works
    el.dataset.state = "connecting";
    socket.onopen = () => {
      // The token travels in the first frame, never in the URL.
      socket.send(JSON.stringify({ type: "auth", token }));
    };
    socket.onmessage = (event) => {
      if (ws !== socket) return;
      try {
        const frame = JSON.parse(event.data);
        if (frame.type === "session_info") {
          opened = everOpened = true;
          failedOpens = 0;
        }
        handle(frame);
      } catch (err) {
        console.warn("chat frame", err);
      }
    };
    socket.onclose = (event) => {
      if (ws !== socket || closed) return;
      ws = null;
      typing.hidden = true;
      el.dataset.state = "disconnected";
      if (event.code === 1008) {
        if (/authenticat|token/i.test(event.reason)) {
          endSession("Your session has ended. Please sign in again.");
          return;
        }
        status.textContent = event.reason || "The server refused this conversation.";
        form.hidden = true;
        return;
      }
      if (!opened) {
        failedOpens += 1;
        if (failedOpens >= 2 && !everOpened) {
          switchToSse("Live connection unavailable; answers arrive over HTTP streaming.");
          loadHistory().then(() => {
            while (queued.length) askSse(queued.shift());
          });
          return;
        }
      }
      const wait = RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)];
      attempt += 1;
      status.textContent = "Connection lost. Reconnecting…";
      setTimeout(connect, wait);
    };
  }

  // -- Server-Sent Events --------------------------------------------------------------

  async function loadHistory() {
    if (!sessionId) return;
    try {
      const data = await request(`/sessions/${encodeURIComponent(sessionId)}/messages?limit=200`);
      for (const m of data.messages) finalMessage(m);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) showError(err.message);
    }
  }

  function switchToSse(message) {
    mode = "sse";
    el.dataset.transport = "sse";
    el.dataset.state = "connected";
    status.textContent = message || "";
    performance.mark("console:chat-ready");
  }

  async function askSse(question) {
    typing.hidden = false;
    const body = { persona_id: persona.persona_id, user_message: question };
    if (sessionId) body.session_id = sessionId;
    try {
      await streamAnswer(body, (event, data) => {
        if (event === "delta") handle({ type: "delta", text: data.text });
        else if (event === "reset") handle({ type: "reset" });
        else if (event === "answer") {
          if (data.session_id && data.session_id !== sessionId) {
            sessionId = data.session_id;
            onSession(sessionId);
          }
          finalMessage({
            message_id: data.message_id,
            sender: "persona",
            content: data.response_text,
            metadata: { citations: data.citations },
          });
        } else if (event === "error") handle({ type: "error", message: data.message });
      });
    } catch (err) {
      handle({ type: "error", message: err.message });
    } finally {
      typing.hidden = true;
      for (const p of pending) p.classList.remove("pending");
      pending = [];
    }
  }

  // -- sending ---------------------------------------------------------------------------

  function submit() {
    const question = input.value.trim();
    if (!question) return;
    const mine = bubble("user", question, null, lang);
    mine.classList.add("pending");
    mine.dataset.content = question;
    if (mode === "ws") {
      pending.push(mine);
      log.append(mine);
      if (ws && ws.readyState === WebSocket.OPEN && el.dataset.state === "connected") {
        ws.send(JSON.stringify({ type: "user_message", content: question }));
      } else {
        queued.push(question); // sent once the socket is authenticated
        if (!ws) connect();
      }
    } else {
      pending.push(mine);
      log.append(mine);
      askSse(question);
    }
    input.value = "";
    scroll();
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });

  // A new conversation opens its socket with the first question (opening one
  // starts a session on the server); an existing one connects now to replay it.
  if (mode === "ws" && sessionId) connect();
  else if (mode === "ws") {
    el.dataset.state = "idle";
    performance.mark("console:chat-ready");
  } else {
    switchToSse("");
    loadHistory();
  }

  return {
    el,
    focus: () => input.focus(),
    close() {
      closed = true;
      if (ws) ws.close(1000);
      ws = null;
    },
  };
}
