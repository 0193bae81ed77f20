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

  /**
   * Opens the server-sent events of `path`: an async iterator of batches, each the events
   * (`{event, data, id}`) that one read of the network brought, so that a page draws each batch
   * at once. A connection that drops midway (the gateway went away) throws `UnreachableError`
   * and reports the gateway unreachable, as a request that cannot connect does.
   */
  async events(path, { signal } = {}) {
    const response = await this.request("GET", path, { signal, accept: "text/event-stream" });
    return this.untilDropped(readEventBatches(response.body.getReader()), signal);
  }

  async *untilDropped(batches, signal) {
    try {
      yield* batches;
    } catch (error) {
      // Chromium says "TypeError: network error", Firefox "TypeError: Error in body stream".
      if (signal?.aborted || error instanceof ApiError) throw error;
      this.onReachable(false);
      throw new UnreachableError(`lost the connection to the gateway at ${location.origin}`);
    }
  }
}

/** Server-sent events by the WHATWG rules (fields, comments, blank-line ends), fed as they come. */
class EventParser {
  constructor() {
    this.buffer = "";
    this.data = [];
    this.name = "message";
    this.id = null;
  }

  /** The events that `text` (the next piece of the stream) completes. */
  feed(text) {
    this.buffer += text;
    // A "\r" at the very end may be half of "\r\n": it waits for the next piece.
    const lines = this.buffer.split(/\r\n|\r(?!$)|\n/);
    this.buffer = lines.pop();
    const events = [];
    for (const line of lines) {
      if (line === "") {
        const data = this.data.join("\n");
        if (this.data.length) events.push({ event: this.name, data, id: this.id });
        this.data = [];
        this.name = "message";
      } else if (!line.startsWith(":")) {
        this.field(line);
      }
    }
    return events;
  }

  field(line) {
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let text = colon < 0 ? "" : line.slice(colon + 1);
    if (text.startsWith(" ")) text = text.slice(1);
    if (name === "data") this.data.push(text);
    else if (name === "event") this.name = text;
    else if (name === "id") this.id = text;
  }
}

/**
 * Reads a server-sent event stream: yields, as one array, the events each chunk of the network
 * completed (a chunk that completes none yields nothing).
 */
export async function* readEventBatches(reader) {
  const decoder = new TextDecoder();
  const parser = new EventParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const events = parser.feed(decoder.decode(value, { stream: true }));
      if (events.length) yield events;
    }
  } finally {
    // A reader that stops early (a token revoked, the view left) closes the connection.
    reader.cancel().catch(() => {});
  }
}

/** A path segment, escaped. */
export function segment(text) {
  return encodeURIComponent(text);
}
