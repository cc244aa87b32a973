import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { components } from './schema';

/**
 * Types of the platform REST API, generated from
 * `hopsworks_lab/api/openapi.yaml` into `src/schema.ts` by `jlpm build:schema`.
 */
export type Schemas = components['schemas'];
export type User = Schemas['User'];
export type Project = Schemas['Project'];
export type ProjectList = Schemas['ProjectList'];
export type ProjectRole = Schemas['Role'];
export type Version = Schemas['Version'];
export type ErrorBody = Schemas['Error'];

/**
 * The path segments of the platform API under the server's base URL.
 */
export const API_PREFIX = ['hopsworks', 'api'];

/**
 * An error answered by the platform API (or a failure to reach it).
 *
 * `status` is the HTTP status (0 when the server could not be reached),
 * `code` the machine-readable `error` field of the error body and
 * `message` its human-readable `message`.
 */
export class APIError extends Error {
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'APIError';
    this.status = status;
    this.code = code;
  }

  readonly status: number;
  readonly code: string;
}

function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ErrorBody).error === 'string' &&
    typeof (value as ErrorBody).message === 'string'
  );
}

/**
 * Build an {@link APIError} from a non-2xx response and its body text.
 */
export function errorFromResponse(response: Response, text: string): APIError {
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (isErrorBody(body)) {
    return new APIError(response.status, body.error, body.message);
  }
  const reason = response.statusText || 'request failed';
  return new APIError(
    response.status,
    'http_error',
    `HTTP ${response.status}: ${reason}`
  );
}

/**
 * The URL of an API endpoint, e.g. `apiUrl('users/me')`.
 */
export function apiUrl(
  endpoint = '',
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return URLExt.join(settings.baseUrl, ...API_PREFIX, endpoint);
}

/**
 * Call the platform API under `<baseUrl>hopsworks/api/` and return the
 * decoded JSON body.
 *
 * @param endpoint - the path below `hopsworks/api/`, e.g. `projects`
 * @param init - the fetch options; a string body is sent as JSON unless a
 *   `Content-Type` header says otherwise
 * @param settings - the server connection settings (defaults to
 *   `ServerConnection.makeSettings()`)
 * @throws {APIError} when the server answers with a non-2xx status, the body
 *   is not JSON, or the server cannot be reached
 */
export async function requestAPI<T>(
  endpoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = apiUrl(endpoint, settings);
  const headers = new Headers(init.headers);
  if (!headers.has('Accept')) {
    headers.set('Accept', 'application/json');
  }
  if (typeof init.body === 'string' && !headers.has('Content-Type')) {
    headers.set('Content-Type', 'application/json');
  }

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { ...init, headers },
      settings
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new APIError(0, 'network_error', message);
  }

  const text = await response.text();
  if (!response.ok) {
    throw errorFromResponse(response, text);
  }
  if (!text) {
    return undefined as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new APIError(
      response.status,
      'invalid_response',
      `The server's answer to ${endpoint || '/'} is not JSON.`
    );
  }
}

/**
 * The signed-in user.
 */
export function getMe(): Promise<User> {
  return requestAPI<User>('users/me');
}

/**
 * The projects the signed-in user can see, with the caller's role in each.
 */
export function listProjects(): Promise<ProjectList> {
  return requestAPI<ProjectList>('projects');
}

/**
 * The platform version and API version.
 */
export function getVersion(): Promise<Version> {
  return requestAPI<Version>('version');
}
