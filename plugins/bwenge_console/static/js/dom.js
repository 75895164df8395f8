// Building the page without HTML strings: every piece of text is a text node,
// every attribute goes through setAttribute, and links are checked. The page's
// Content-Security-Policy (Trusted Types) makes innerHTML throw anyway.

const RTL = new Set(["ar", "arc", "dv", "fa", "ha", "he", "khw", "ks", "ku", "ps", "ur", "yi"]);

/** Is this BCP 47 language written right to left? */
export function isRtl(lang) {
  return RTL.has(String(lang || "").toLowerCase().split(/[-_]/)[0]);
}

/** A link target we are willing to put in an href: same-origin paths and hash routes only. */
export function safeHref(value) {
  const text = String(value ?? "");
  if (text.startsWith("#")) return text;
  try {
    const url = new URL(text, location.href);
    if (url.origin === location.origin && (url.protocol === "http:" || url.protocol === "https:")) {
      return url.pathname + url.search + url.hash;
    }
  } catch {
    /* not a URL */
  }
  return null;
}

/**
 * h("button", {class: "primary", onclick: fn, disabled: true}, "Save")
 * Children: strings (text nodes), nodes, arrays, null/false (skipped).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "href") {
      const href = safeHref(value);
      if (href !== null) el.setAttribute("href", href);
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked") {
      el.checked = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Untrusted text in its own element, direction decided by its content. */
export function text(tag, value, attrs = {}) {
  return h(tag, { dir: "auto", ...attrs }, String(value ?? ""));
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

let uid = 0;
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form control; ``loc`` ties it to the API's validation errors. */
export function field(label, control, { loc, hint } = {}) {
  const id = control.id || nextId();
  control.id = id;
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  if (loc) control.dataset.loc = loc;
  const describedBy = [`${id}-error`];
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "hint", id: `${id}-hint` }, hint);
    describedBy.push(`${id}-hint`);
  }
  control.setAttribute("aria-describedby", describedBy.join(" "));
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl, error);
}

/** Show the API's ``error.fields`` next to the controls they name; returns those left over. */
export function showFieldErrors(form, fields) {
  for (const el of form.querySelectorAll(".field-error")) {
    el.hidden = true;
    el.textContent = "";
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const unmatched = [];
  let first = null;
  for (const f of fields || []) {
    const loc = (f.loc || []).filter((p) => p !== "body" && !/^\d+$/.test(p));
    let control = null;
    for (let n = loc.length; n > 0 && !control; n -= 1) {
      control = form.querySelector(`[data-loc="${CSS.escape(loc.slice(0, n).join("."))}"]`);
    }
    if (!control) {
      unmatched.push(f);
      continue;
    }
    control.setAttribute("aria-invalid", "true");
    const error = document.getElementById(`${control.id}-error`);
    if (error) {
      error.hidden = false;
      error.textContent = error.textContent ? `${error.textContent} ${f.msg}` : f.msg;
    }
    first = first || control;
  }
  if (first) first.focus();
  return unmatched;
}

export function formatDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function formatBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}
