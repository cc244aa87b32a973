import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { components } from './schema';
import { PACKAGE_VERSION } from './version';

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
 * The version of the platform API this frontend was built for. Sent on every
 * request as {@link API_VERSION_HEADER}; the lab server answers 409
 * `version_mismatch` when it speaks another one.
 */
export const API_VERSION = 1;

/**
 * The request header carrying {@link API_VERSION}.
 */
export const API_VERSION_HEADER = 'X-Hopsworks-Api-Version';

/**
 * What the lab server says about itself (`GET <baseUrl>hopsworks/context`).
 */
export interface ILabContext {
  /**
   * `hub`: a hub-spawned server, bound to one project; `standalone`: a
   * `jupyter lab` of its own, where the user picks the project.
   */
  mode: 'hub' | 'standalone';
  /**
   * The server's project in hub mode, else null.
   */
  project: string | null;
  /**
   * The server's hopsworks-lab version.
   */
  version: string;
  /**
   * The platform API version the server speaks.
   */
  api_version: number;
}

/**
 * An error answered by the platform API (or a failure to reach it).
 *
 * `status` is the HTTP status (0 when the server could not be reached),
 * `code` the machine-readable `error` field of the error body and
 * `message` its human-readable `message`.
 */
export class APIError extends Error {
  constructor(
    status: number,
    code: string,
    message: string,
    body: Record<string, unknown> = {}
  ) {
    super(message);
    this.name = 'APIError';
    this.status = status;
    this.code = code;
    this.body = body;
  }

  readonly status: number;
  readonly code: string;
  /**
   * The whole error body (e.g. the server's `api_version` for a
   * `version_mismatch`).
   */
  readonly body: Record<string, unknown>;
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
    return new APIError(
      response.status,
      body.error,
      body.message,
      body as unknown as Record<string, unknown>
    );
  }
  const reason = response.statusText || 'request failed';
  return new APIError(
    response.status,
    'http_error',
    `HTTP ${response.status}: ${reason}`
  );
}

/**
 * What the lab server says about itself: its mode, project and versions.
 */
export function getContext(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<ILabContext> {
  return requestJSON<ILabContext>(
    URLExt.join(settings.baseUrl, 'hopsworks', 'context'),
    'hopsworks/context',
    settings
  );
}

/**
 * The message to show when the server speaks another API version than this
 * frontend, or null when they match.
 */
export function versionMismatch(server: {
  api_version?: unknown;
  version?: unknown;
}): string | null {
  if (server.api_version === API_VERSION) {
    return null;
  }
  const api =
    typeof server.api_version === 'number' ? `v${server.api_version}` : '?';
  const version =
    typeof server.version === 'string'
      ? ` (hopsworks-lab ${server.version})`
      : '';
  return (
    `This Hopsworks panel (API v${API_VERSION}, hopsworks-lab ` +
    `${PACKAGE_VERSION}) does not match the server (API ${api}${version}): ` +
    'reload the page, or upgrade hopsworks-lab so that both are the same version.'
  );
}

/**
 * Send a request to the lab server itself (outside the OpenAPI spec, hence
 * not through the typed client) with the API version header, and read its
 * JSON answer. `ServerConnection` adds the lab's token and XSRF header; a
 * `body` given as an object is sent as JSON.
 */
export async function requestJSON<T>(
  url: string,
  what: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
  init: { method?: string; body?: unknown } = {}
): Promise<T> {
  const headers = new Headers({
    Accept: 'application/json',
    [API_VERSION_HEADER]: String(API_VERSION)
  });
  const request: RequestInit = { headers, method: init.method ?? 'GET' };
  if (init.body !== undefined) {
    headers.set('Content-Type', 'application/json');
    request.body = JSON.stringify(init.body);
  }

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, request, settings);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new APIError(0, 'network_error', message);
  }

  const text = await response.text();
  if (!response.ok) {
    throw errorFromResponse(response, text);
  }
  if (response.status === 204) {
    return undefined as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new APIError(
      response.status,
      'invalid_response',
      `The server's answer to ${what} is not JSON.`
    );
  }
}
