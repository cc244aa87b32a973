import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import {
  API_VERSION,
  API_VERSION_HEADER,
  APIError,
  errorFromResponse,
  Schemas
} from './api';
import { fileUrl } from './client';

/**
 * A file or folder as the files API describes it.
 */
export type Entry = Schemas['Entry'];

/**
 * How far an upload got.
 */
export interface IUploadProgress {
  /**
   * Bytes sent so far.
   */
  loaded: number;
  /**
   * Bytes to send in all.
   */
  total: number;
}

/**
 * One upload under way: its progress, its outcome, and a way to stop it.
 */
export interface IUpload {
  /**
   * The project the file goes to.
   */
  readonly project: string;
  /**
   * The file's `<dataset>/<path>`.
   */
  readonly path: string;
  /**
   * The file's name (the last segment of `path`).
   */
  readonly name: string;
  /**
   * Emitted as the bytes go out.
   */
  readonly progress: ISignal<IUpload, IUploadProgress>;
  /**
   * The file's entry once the server has it all; rejects with the server's
   * {@link APIError} (`file_exists` 409, `quota_exceeded` 413, ...), a
   * `network_error` (status 0), or a `cancelled` one (status 0) after
   * {@link cancel}.
   */
  readonly done: Promise<Entry>;
  /**
   * Abort the request: the server keeps nothing of an interrupted upload.
   */
  cancel(): void;
}

/**
 * The options of {@link startUpload}.
 */
export interface IUploadOptions {
  project: string;
  /**
   * The target `<dataset>/<path>`.
   */
  path: string;
  /**
   * The bytes (a `File` from an input or a drop).
   */
  data: Blob;
  /**
   * Replace an existing file (else the server answers 409 `file_exists`).
   */
  overwrite?: boolean;
  /**
   * The server connection (the default one by default).
   */
  settings?: ServerConnection.ISettings;
  /**
   * Makes the request (tests pass a fake).
   */
  createRequest?: () => XMLHttpRequest;
}

/**
 * The `_xsrf` cookie, as `ServerConnection` reads it (the last one wins, as
 * tornado's parser keeps the last of duplicates).
 */
export function xsrfToken(): string | undefined {
  let cookie = '';
  try {
    cookie = document.cookie;
  } catch {
    return undefined; // e.g. a sandboxed frame
  }
  let value: string | undefined = undefined;
  for (const part of cookie.split(';')) {
    const trimmed = part.trim();
    if (trimmed.startsWith('_xsrf=')) {
      value = trimmed.substring('_xsrf='.length);
    }
  }
  return value;
}

/**
 * Upload a file with `PUT /api/projects/{project}/files/{path}` and report
 * its progress. XMLHttpRequest, not fetch: only it reports upload progress.
 * The request carries what `ServerConnection` would send (the lab's token,
 * the XSRF cookie) and the API version header.
 */
export function startUpload(options: IUploadOptions): IUpload {
  return new Upload(options);
}

class Upload implements IUpload {
  constructor(options: IUploadOptions) {
    this.project = options.project;
    this.path = options.path;
    this.name = options.path.split('/').pop() ?? options.path;
    const settings = options.settings ?? ServerConnection.makeSettings();
    const xhr = options.createRequest?.() ?? new XMLHttpRequest();
    this._xhr = xhr;
    const total = options.data.size;
    this.done = new Promise<Entry>((resolve, reject) => {
      xhr.upload.onprogress = event => {
        this._progress.emit({
          loaded: event.loaded,
          total: event.lengthComputable ? event.total : total
        });
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          this._progress.emit({ loaded: total, total });
          try {
            resolve(JSON.parse(xhr.responseText) as Entry);
          } catch {
            reject(
              new APIError(
                xhr.status,
                'invalid_response',
                `The server's answer to the upload of ${this.path} is not JSON.`
              )
            );
          }
          return;
        }
        reject(failure(xhr));
      };
      xhr.onerror = () => {
        reject(
          new APIError(
            0,
            'network_error',
            `The upload of ${this.path} failed: the server could not be reached or closed the connection.`
          )
        );
      };
      xhr.onabort = () => {
        reject(
          new APIError(
            0,
            'cancelled',
            `The upload of ${this.path} was cancelled.`
          )
        );
      };
    });
    // A caller that only cancels must not see an unhandled rejection.
    this.done.catch(() => undefined);

    const overwrite = options.overwrite ? 'true' : 'false';
    xhr.open(
      'PUT',
      `${fileUrl(options.project, options.path, settings)}?overwrite=${overwrite}`
    );
    if (settings.token) {
      xhr.setRequestHeader('Authorization', `token ${settings.token}`);
    }
    const xsrf = xsrfToken();
    if (xsrf !== undefined) {
      xhr.setRequestHeader('X-XSRFToken', xsrf);
    }
    xhr.setRequestHeader(API_VERSION_HEADER, String(API_VERSION));
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.send(options.data);
  }

  readonly project: string;
  readonly path: string;
  readonly name: string;
  readonly done: Promise<Entry>;

  get progress(): ISignal<this, IUploadProgress> {
    return this._progress;
  }

  cancel(): void {
    this._xhr.abort();
  }

  private _xhr: XMLHttpRequest;
  private _progress = new Signal<this, IUploadProgress>(this);
}

/**
 * The {@link APIError} of a finished request that failed.
 */
function failure(xhr: XMLHttpRequest): APIError {
  if (xhr.status < 200 || xhr.status > 599) {
    return new APIError(0, 'network_error', 'The upload failed.');
  }
  const response = new Response(null, {
    status: xhr.status,
    statusText: xhr.statusText
  });
  return errorFromResponse(response, xhr.responseText);
}
