// The gateway's public /v1 API, as every other client uses it: the token goes in the
// Authorization header of each request, never in a URL. Live logs come as server-sent events
// read from a fetch() body (EventSource cannot send the header).

/** The gateway answered with an error (`{"error": {"code", "message"}}`). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The gateway did not answer at all (down, or the network in between). */
export class UnreachableError extends Error {}

/** `id:secret` from what a person pastes: that form, or the two lines `wharf token new` prints. */
export function parseToken(text) {
  const pasted = text.trim();
  const id = /WHARF_TOKEN_ID=(\S+)/.exec(pasted);
  const secret = /WHARF_TOKEN_SECRET=(\S+)/.exec(pasted);
  if (id && secret) return `${id[1]}:${secret[1]}`;
  const match = /^(?:Bearer\s+)?([^\s:]+):(\S+)$/.exec(pasted);
  return match ? `${match[1]}:${match[2]}` : null;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (body && body.error && typeof body.error.message === "string") {
    return new ApiError(response.status, body.error.code, body.error.message);
  }
  if (response.status >= 502) {
    // A proxy in front of a gateway that is down answers this way.
    return new UnreachableError(`the gateway is unavailable (HTTP ${response.status})`);
  }
  return new ApiError(response.status, "http_error", `HTTP ${response.status}`);
}

export class Api {
  /**
   * `onUnauthorized(message)`: the token was refused (revoked, expired, unknown).
   * `onReachable(isReachable)`: after every request, whether the gateway answered.
   */
  constructor(token, { onUnauthorized = () => {}, onReachable = () => {} } = {}) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
    this.onReachable = onReachable;
  }

  async request(method, path, { body, signal, accept = "application/json" } = {}) {
    const headers = { authorization: `Bearer ${this.token}`, accept };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      this.onReachable(false);
      throw new UnreachableError(`cannot reach the gateway at ${location.origin}`);
    }
    if (response.ok) {
      this.onReachable(true);
      return response;
    }
    const error = await errorOf(response);
    this.onReachable(!(error instanceof UnreachableError));
    if (response.status === 401) this.onUnauthorized(error.message);
    throw error;
  }

  async get(path, options) {
    return (await this.request("GET", path, options)).json();
  }

  async post(path, body) {
    return (await this.request("POST", path, { body })).json();
  }

  async delete(path) {
    return (await this.request("DELETE", path)).json();
  }

  /** Opens the server-sent events of `path`: an async iterator of `{event, data, id}`. */
  async events(path, { signal } = {}) {
    const response = await this.request("GET", path, { signal, accept: "text/event-stream" });
    return readEvents(response.body.getReader());
  }
}

/** Parses a server-sent event stream (the WHATWG rules: fields, comments, blank-line ends). */
export async function* readEvents(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  let name = "message";
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    // A "\r" at the very end may be half of "\r\n": it waits for the next chunk.
    const lines = buffer.split(/\r\n|\r(?!$)|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (data.length) yield { event: name, data: data.join("\n"), id };
        data = [];
        name = "message";
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? "" : line.slice(colon + 1);
      if (text.startsWith(" ")) text = text.slice(1);
      if (field === "data") data.push(text);
      else if (field === "event") name = text;
      else if (field === "id") id = text;
    }
  }
}

/** A path segment, escaped. */
export function segment(text) {
  return encodeURIComponent(text);
}
