// Every call the page makes: same origin, the management token from sessionStorage when one is set.

const TOKEN_KEY = "modelport.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export async function request(method, path, body) {
  const headers = { accept: "application/json", "x-modelport-actor": "dashboard" };
  const token = storedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, `the server did not answer: ${error.message}`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

const enc = encodeURIComponent;

export const api = {
  status: () => request("GET", "/api/v1/status"),
  models: () => request("GET", "/api/v1/models"),
  model: (name) => request("GET", `/api/v1/models/${enc(name)}`),
  moveAlias: (name, alias, version) =>
    request("PUT", `/api/v1/models/${enc(name)}/aliases/${enc(alias)}`, { version }),
  endpoints: () => request("GET", "/api/v1/endpoints"),
  endpoint: (name) => request("GET", `/api/v1/endpoints/${enc(name)}`),
  history: (name) => request("GET", `/api/v1/endpoints/${enc(name)}/history`),
  setRoutes: (name, routes, expectedRevision) =>
    request("PUT", `/api/v1/endpoints/${enc(name)}/routes`, { routes, expected_revision: expectedRevision }),
  promote: (name, target, expectedRevision) =>
    request("POST", `/api/v1/endpoints/${enc(name)}/promote`, { target, expected_revision: expectedRevision }),
  rollback: (name, expectedRevision) =>
    request("POST", `/api/v1/endpoints/${enc(name)}/rollback`, { expected_revision: expectedRevision }),
  rollout: (name) => request("GET", `/api/v1/endpoints/${enc(name)}/rollout`),
  shadowReport: (name) => request("GET", `/api/v1/endpoints/${enc(name)}/shadow-report`),
  abReport: (name) => request("GET", `/api/v1/endpoints/${enc(name)}/report`),
  drift: (name, window) => request("GET", `/api/v1/drift/${enc(name)}?window=${enc(window)}`),
  stats: () => request("GET", "/v2/models/stats"),
  jobs: () => request("GET", "/api/v1/jobs"),
  cancelJob: (id) => request("DELETE", `/api/v1/jobs/${enc(id)}`),
};
