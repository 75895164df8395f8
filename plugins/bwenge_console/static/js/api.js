// The REST client. Tokens live in this module's memory only: not in
// localStorage, sessionStorage, cookies or URLs. A reload signs you out, which is
// the price of a token no other script, extension sync or later visitor can find.
// Requests carry the token in the Authorization header, so there is no ambient
// credential for another site to ride on (no CSRF).

const session = { access: null, refresh: null, expiresAt: 0, me: null };
let refreshing = null;
let onEnded = () => {};

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || (body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "error";
    this.fields = error.fields || [];
    this.details = error.details || null;
  }
}

/** Called with a message when the session can't continue (revoked, expired, signed out). */
export function onSessionEnded(fn) {
  onEnded = fn;
}

export function me() {
  return session.me;
}

export function signedIn() {
  return Boolean(session.access);
}

export function accessToken() {
  return session.access;
}

async function adopt(pair) {
  session.access = pair.access_token;
  session.refresh = pair.refresh_token;
  // refresh a minute early (or at half the lifetime for short ones)
  const life = Number(pair.expires_in || 900);
  session.expiresAt = Date.now() + Math.max(life - 60, life / 2) * 1000;
  session.me = await request("/users/me");
  return session.me;
}

function forget() {
  session.access = session.refresh = session.me = null;
  session.expiresAt = 0;
}

export async function login(email, password) {
  return adopt(await request("/auth/login", { method: "POST", body: { email, password }, auth: false }));
}

export async function register(body) {
  return adopt(await request("/auth/register", { method: "POST", body, auth: false }));
}

export async function acceptInvite(token, password, name) {
  const body = { token, password };
  if (name) body.name = name;
  return adopt(await request("/auth/invites/accept", { method: "POST", body, auth: false }));
}

export async function logout() {
  try {
    if (session.access) await request("/auth/logout", { method: "POST", retry: false });
  } finally {
    forget();
  }
}

/** End the session locally with a message (used when the server refuses our tokens). */
export function endSession(message) {
  const had = Boolean(session.access);
  forget();
  if (had) onEnded(message);
}

async function refresh() {
  if (!session.refresh) throw new ApiError(401, { detail: "Not signed in" });
  if (!refreshing) {
    const token = session.refresh;
    refreshing = request("/auth/refresh", {
      method: "POST",
      body: { refresh_token: token },
      auth: false,
    })
      .then((pair) => {
        session.access = pair.access_token;
        session.refresh = pair.refresh_token;
        const life = Number(pair.expires_in || 900);
        session.expiresAt = Date.now() + Math.max(life - 60, life / 2) * 1000;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** A current access token, refreshed first when it is about to expire. */
export async function freshToken() {
  if (session.access && Date.now() >= session.expiresAt) {
    try {
      await refresh();
    } catch (err) {
      endSession("Your session has ended. Please sign in again.");
      throw err;
    }
  }
  return session.access;
}

/**
 * request("/personas", {method: "POST", body: {...}}) -> parsed JSON.
 * A 401 refreshes the tokens once and retries; if that fails the session ends.
 */
export async function request(path, { method = "GET", body, form, auth = true, retry = true } = {}) {
  const headers = { Accept: "application/json" };
  if (auth) {
    const token = await freshToken();
    if (token) headers.Authorization = `Bearer ${token}`;
  }
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "omit" });
  if (response.status === 401 && auth && retry && session.refresh) {
    try {
      await refresh();
    } catch {
      endSession("Your session has ended. Please sign in again.");
      throw new ApiError(401, { detail: "Your session has ended." });
    }
    return request(path, { method, body, form, auth, retry: false });
  }
  if (response.status === 401 && auth) {
    endSession("Your session has ended. Please sign in again.");
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, typeof data === "object" ? data : null);
  return data;
}

/** Like request() but 404 becomes null (optional features, e.g. exam results). */
export async function optional(path) {
  try {
    return await request(path);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return null;
    throw err;
  }
}

/** Multipart upload with progress (fetch can't report upload progress; XHR can). */
export async function upload(path, formData, onProgress) {
  const token = await freshToken();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data));
    };
    xhr.onerror = () => reject(new ApiError(0, { detail: "Network error" }));
    xhr.send(formData);
  });
}

/**
 * POST /ai/respond/stream and call ``on(event, data)`` for each Server-Sent Event
 * (delta, reset, answer, error). Used for the preview chat and as the chat's
 * fallback where WebSockets are blocked.
 */
export async function streamAnswer(body, on, signal) {
  const token = await freshToken();
  const response = await fetch("/ai/respond/stream", {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      Accept: "text/event-stream",
    },
    body: JSON.stringify(body),
    credentials: "omit",
    signal,
  });
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, data);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      on(event, data.length ? JSON.parse(data.join("\n")) : {});
    }
  }
}
