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
  body: string;
}

export interface IFakeResponse {
  status?: number;
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
    const body =
      request.method === 'GET' || request.method === 'HEAD'
        ? ''
        : await request.text();
    const recorded: IFakeRequest = {
      method: request.method,
      path: decodeURIComponent(url.pathname),
      rawPath: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body
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

function respond(response: IFakeResponse): Response {
  const status = response.status ?? 200;
  const text =
    response.body === undefined
      ? ''
      : typeof response.body === 'string'
        ? response.body
        : JSON.stringify(response.body);
  return new Response(status === 204 ? null : text, {
    status,
    headers: { 'Content-Type': 'application/json', ...response.headers }
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
