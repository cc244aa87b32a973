/**
 * A fake lab server for the unit tests: `globalThis.fetch` (which
 * `ServerConnection`, hence the API client, calls) answered from a route
 * table, every request recorded. Not a test file itself (no `.spec`).
 */

export interface IFakeRequest {
  method: string;
  /**
   * The decoded path, e.g. `/hopsworks/api/projects/demo`.
   */
  path: string;
  /**
   * The path as sent (percent-encoding kept).
   */
  rawPath: string;
  query: URLSearchParams;
  headers: Headers;
  /**
   * The body decoded as UTF-8 (`''` for none).
   */
  body: string;
  /**
   * The body's bytes as sent (empty for none), for bodies that are not text.
   */
  bodyBytes: Uint8Array;
}

export interface IFakeResponse {
  status?: number;
  /**
   * A string is sent as is, a `Uint8Array` or `Blob` as its bytes
   * (`application/octet-stream`, or the Blob's own type), anything else as
   * JSON; `headers` override the content type.
   */
  body?: unknown;
  headers?: Record<string, string>;
}

export type FakeHandler = (
  request: IFakeRequest,
  match: RegExpMatchArray
) => IFakeResponse | Promise<IFakeResponse>;

interface IRoute {
  method: string;
  pattern: RegExp;
  handler: FakeHandler;
}

/**
 * The server's context in standalone mode.
 */
export const STANDALONE_CONTEXT = {
  mode: 'standalone',
  project: null,
  version: '0.1.0',
  api_version: 1
};

export class FakeServer {
  /**
   * Every request received, in order.
   */
  readonly requests: IFakeRequest[] = [];

  /**
   * Answer `method` requests whose decoded path below `/hopsworks` matches
   * `path` (a string is an exact path, e.g. `/api/projects`). Later routes
   * win over earlier ones.
   */
  on(method: string, path: string | RegExp, handler: FakeHandler): this {
    const pattern =
      typeof path === 'string'
        ? new RegExp('^' + path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$')
        : path;
    this._routes.unshift({ method: method.toUpperCase(), pattern, handler });
    return this;
  }

  /**
   * Answer with a fixed JSON body.
   */
  json(method: string, path: string | RegExp, body: unknown, status = 200) {
    return this.on(method, path, () => ({ status, body }));
  }

  /**
   * The requests whose method and decoded path below `/hopsworks` match.
   */
  find(method: string, path: string | RegExp): IFakeRequest[] {
    return this.requests.filter(
      r =>
        r.method === method.toUpperCase() &&
        (typeof path === 'string'
          ? r.path === '/hopsworks' + path
          : path.test(r.path.slice('/hopsworks'.length)))
    );
  }

  /**
   * Make `globalThis.fetch` answer from this server (with the standalone
   * context unless a route says otherwise).
   */
  install(): this {
    this._realFetch = globalThis.fetch;
    globalThis.fetch = (async (request: Request) =>
      this._handle(request)) as unknown as typeof fetch;
    return this;
  }

  restore(): void {
    if (this._realFetch) {
      globalThis.fetch = this._realFetch;
    }
  }

  private async _handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const bodyBytes =
      request.method === 'GET' || request.method === 'HEAD'
        ? new Uint8Array()
        : new Uint8Array(await request.arrayBuffer());
    const recorded: IFakeRequest = {
      method: request.method,
      path: decodeURIComponent(url.pathname),
      rawPath: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body: new TextDecoder().decode(bodyBytes),
      bodyBytes
    };
    this.requests.push(recorded);
    const below = recorded.path.startsWith('/hopsworks')
      ? recorded.path.slice('/hopsworks'.length)
      : recorded.path;
    if (below === '/context' && request.method === 'GET') {
      const custom = this._routes.find(
        r => r.method === 'GET' && r.pattern.test(below)
      );
      if (!custom) {
        return respond({ body: STANDALONE_CONTEXT });
      }
    }
    for (const route of this._routes) {
      const match = below.match(route.pattern);
      if (route.method === request.method && match) {
        return respond(await route.handler(recorded, match));
      }
    }
    return respond({
      status: 404,
      body: {
        error: 'not_found',
        message: `no route ${request.method} ${below}`
      }
    });
  }

  private _routes: IRoute[] = [];
  private _realFetch: typeof fetch | null = null;
}

async function respond(response: IFakeResponse): Promise<Response> {
  const status = response.status ?? 200;
  const headers = new Headers({ 'Content-Type': 'application/json' });
  let body: string | Uint8Array<ArrayBuffer>;
  if (isTagged<Uint8Array>(response.body, 'Uint8Array')) {
    // a copy: a view on a SharedArrayBuffer is no valid Response body
    body = new Uint8Array(response.body);
    headers.set('Content-Type', 'application/octet-stream');
  } else if (
    isTagged<Blob>(response.body, 'Blob') ||
    isTagged<Blob>(response.body, 'File')
  ) {
    body = await blobBytes(response.body);
    headers.set(
      'Content-Type',
      response.body.type || 'application/octet-stream'
    );
  } else if (response.body === undefined) {
    body = '';
  } else if (typeof response.body === 'string') {
    body = response.body;
  } else {
    body = JSON.stringify(response.body);
  }
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    headers.set(name, value);
  }
  return new Response(status === 204 ? null : body, { status, headers });
}

/**
 * Whether `value` is a `tag` (e.g. `Uint8Array`) of any realm: the tests'
 * jsdom globals and Node's (`TextEncoder`, `Response.blob()`) differ, so
 * `instanceof` is not enough.
 */
function isTagged<T>(value: unknown, tag: string): value is T {
  return Object.prototype.toString.call(value) === `[object ${tag}]`;
}

/**
 * The bytes of a Blob. jsdom's Blob has no `arrayBuffer()` (and Node's
 * Response would send it as the text `[object Blob]`); Node's has.
 */
async function blobBytes(blob: Blob): Promise<Uint8Array<ArrayBuffer>> {
  if (typeof blob.arrayBuffer === 'function') {
    return new Uint8Array(await blob.arrayBuffer());
  }
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(new Uint8Array(reader.result as ArrayBuffer));
    reader.onerror = () => reject(reader.error);
    reader.readAsArrayBuffer(blob);
  });
}

/**
 * Poll `probe` until it returns something truthy (fails after ~2 s).
 */
export async function waitFor<T>(
  probe: () => T | null | undefined | false
): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const found = probe();
    if (found) {
      return found;
    }
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  throw new Error('timed out waiting');
}
