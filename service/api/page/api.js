// Calls to the service's JSON API, with the bearer token (if one is saved) on every call.

export const TOKEN_KEY = "memo-token";

export function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

/** One API call. JSON in and out; the bearer token goes on every call when one is set. `signal` (an
 * AbortController's) cancels it. */
export async function api(method, path, body, signal) {
  const headers = { Accept: "application/json" };
  const options = { method, headers, signal };
  if (token()) headers.Authorization = "Bearer " + token();
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await reach(path, options);
  const data = await response.json().catch(() => null);
  if (!response.ok) throw failure(response, data);
  return data;
}

/**
 * A streamed POST (server-sent events): `onEvent(name, data)` for each event as it arrives. Resolves when
 * the stream ends; an error before the stream starts is thrown like api()'s, an `error` event too.
 */
export async function stream(path, body, onEvent, signal) {
  const headers = { Accept: "text/event-stream", "Content-Type": "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  const response = await reach(path, { method: "POST", headers, body: JSON.stringify(body), signal });
  if (!response.ok) throw failure(response, await response.json().catch(() => null));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const lines = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) lines.push(line.slice(5).replace(/^ /, ""));
      }
      const data = JSON.parse(lines.join("\n") || "null");
      if (name === "error") throw new Error((data.error ? data.error + ": " : "") + detailText(data));
      onEvent(name, data);
    }
  }
}

async function reach(path, options) {
  try {
    return await fetch(path, options);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new Error("The service cannot be reached: " + err.message);
  }
}

function failure(response, data) {
  if (response.status === 401 || response.status === 403) {
    return new Error("The service needs a valid API token: enter it at the top right. (" + detailText(data) + ")");
  }
  return new Error((data && data.error ? data.error + ": " : "Error " + response.status + ": ") + detailText(data));
}

function detailText(data) {
  if (!data) return "no details";
  const detail = data.detail;
  if (typeof detail === "string") return detail;
  const parts = [];
  (function walk(value, path) {
    if (Array.isArray(value)) parts.push((path ? path + ": " : "") + value.join(" "));
    else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, k === "json" || k === "query" || k === "form" ? path : k);
    else if (value !== undefined) parts.push(String(value));
  })(detail, "");
  return parts.join("; ") || data.error || "unknown error";
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v));
    else if (value !== "" && value !== null && value !== undefined) q.append(key, value);
  }
  return q.toString();
}
