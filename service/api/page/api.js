// Calls to the service's JSON API, with the bearer token (if one is saved) on every call.

export const TOKEN_KEY = "memo-token";

export function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

/** One API call. JSON in and out; the bearer token goes on every call when one is set. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const options = { method, headers };
  if (token()) headers.Authorization = "Bearer " + token();
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error("The service cannot be reached: " + err.message);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 || response.status === 403) {
      throw new Error("The service needs a valid API token: enter it at the top right. (" + detailText(data) + ")");
    }
    throw new Error((data && data.error ? data.error + ": " : "Error " + response.status + ": ") + detailText(data));
  }
  return data;
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
