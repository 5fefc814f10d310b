// The JSON API client: every call goes through ``api()``, which turns the server's
// {"error", "hint"} bodies into ApiError, and adds to changes the session's CSRF token
// (logged in with a key: an HttpOnly cookie the script never sees) or the legacy write token.

const TOKEN_KEY = "arty-token";
let csrf = null;  // the CSRF token of this browser's session, from /api/session or /api/whoami

/** Who is logged in: {name, admin, roles, logged_in, open, csrf}; remembers the CSRF token. */
export async function whoami() {
  const me = await api("/whoami");
  csrf = me.csrf || null;
  return me;
}

/** Log in with an API key: the server sets the session cookie. */
export async function login(key) {
  const me = await api("/session", { method: "POST", body: { key } });
  csrf = me.csrf || null;
  return me;
}

export async function logout() {
  await api("/session", { method: "DELETE" });
  csrf = null;
}

export class ApiError extends Error {
  constructor(status, message, hint) {
    super(message);
    this.status = status;
    this.hint = hint || null;
  }
}

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY); } catch { return null; }
}

export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token); else localStorage.removeItem(TOKEN_KEY);
  } catch { /* private mode: the token lasts for this page only */ }
}

/** Fetch ``/api`` + path and return its JSON. ``body`` is sent as JSON. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = getToken();
  if (token && method !== "GET") headers.Authorization = "Bearer " + token;
  else if (csrf && method !== "GET") headers["X-Arty-CSRF"] = csrf;
  let res;
  try {
    res = await fetch("/api" + path, { method, headers, signal,
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "the server cannot be reached", "is 'art server' still running?");
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const message = data && typeof data.error === "string" ? data.error : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, message, data?.hint);
  }
  return data;
}

/** A write that asks for the server's token once if it answers 401. */
export async function write(path, options, askToken) {
  try {
    return await api(path, options);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && askToken) {
      const token = await askToken();
      if (token) {
        setToken(token);
        return await api(path, options);
      }
    }
    throw err;
  }
}

/** "?a=1&b=2" from an object, skipping null/undefined/"" values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v == null || v === "") continue;
    q.set(k, typeof v === "object" ? JSON.stringify(v) : String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}
