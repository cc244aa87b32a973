import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import createClient, { type Client } from 'openapi-fetch';

import {
  API_VERSION,
  API_VERSION_HEADER,
  APIError,
  errorFromResponse
} from './api';
import type { paths } from './schema';

/**
 * The typed platform API client: `client.GET('/api/projects/{project}', …)`
 * with request and response shapes generated from the OpenAPI spec
 * (`src/schema.ts`). Use {@link unwrap} to get the body or an
 * {@link APIError}.
 */
export type ApiClient = Client<paths>;

/**
 * Encode a `<dataset>/<path>` file path for a URL: each segment is
 * percent-encoded, the `/` between them kept.
 */
export function encodePath(path: string): string {
  return path
    .split('/')
    .filter(segment => segment !== '')
    .map(encodeURIComponent)
    .join('/');
}

/**
 * Fill the `{name}` placeholders of a spec path; `{path}` (a file path) keeps
 * its slashes, every other value is one encoded segment.
 */
export function serializePath(
  template: string,
  params: Record<string, unknown>
): string {
  return template.replace(/\{([^{}]+)\}/g, (_, name: string) => {
    const value = String(params[name] ?? '');
    return name === 'path' ? encodePath(value) : encodeURIComponent(value);
  });
}

/**
 * The root the spec's paths (`/api/...`, `/webhdfs/...`) hang from: the lab
 * server's `<baseUrl>hopsworks`.
 */
export function platformRoot(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return URLExt.join(settings.baseUrl, 'hopsworks');
}

/**
 * A client that sends its requests through `ServerConnection` (the lab's
 * token and XSRF cookie) with the API version header.
 */
export function createApiClient(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): ApiClient {
  return createClient<paths>({
    baseUrl: platformRoot(settings),
    pathSerializer: serializePath,
    headers: { [API_VERSION_HEADER]: String(API_VERSION) },
    fetch: async (request: Request): Promise<Response> => {
      const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
      return ServerConnection.makeRequest(
        request.url,
        {
          method: request.method,
          headers: request.headers,
          body: hasBody ? await request.arrayBuffer() : undefined,
          signal: request.signal
        },
        settings
      );
    }
  });
}

/**
 * The body of a successful call, or the {@link APIError} of a failed one
 * (status 0 `network_error` when the server could not be reached).
 */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (error) {
    if (error instanceof APIError) {
      throw error;
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new APIError(0, 'network_error', message);
  }
  const { data, error, response } = result;
  if (!response.ok) {
    const text =
      error === undefined
        ? ''
        : typeof error === 'string'
          ? error
          : JSON.stringify(error);
    throw errorFromResponse(response, text);
  }
  return data as T;
}

/**
 * The URL of a file's bytes (`GET /api/projects/{project}/files/{path}`),
 * e.g. for a download link.
 */
export function fileUrl(
  project: string,
  path: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return (
    platformRoot(settings) +
    serializePath('/api/projects/{project}/files/{path}', { project, path })
  );
}
