import { PathExt } from '@jupyterlab/coreutils';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { APIError, Schemas } from './api';
import { ApiClient, createApiClient, fileUrl, unwrap } from './client';

type Entry = Schemas['Entry'];
type Listing = Schemas['Listing'];

/**
 * The name of the drive: files open as `Hopsworks:<project>/<dataset>/<path>`.
 */
export const DRIVE_NAME = 'Hopsworks';

/**
 * Entries asked for per request when the drive lists a folder.
 */
const LIST_PAGE = 1000;

/**
 * What an empty notebook holds.
 */
const EMPTY_NOTEBOOK = {
  cells: [],
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5
};

/**
 * Mime types of the binary files JupyterLab has viewers for (the image
 * viewer renders `data:<mimetype>;base64,...`).
 */
const MIME_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.svg': 'image/svg+xml',
  '.pdf': 'application/pdf',
  '.json': 'application/json',
  '.ipynb': 'application/x-ipynb+json'
};

/**
 * The URL of a file's bytes for a link or `<a download>`: in a standalone
 * lab the token comes along (`?token=`, which jupyter_server accepts), as a
 * link cannot send headers.
 */
export function downloadUrl(
  project: string,
  path: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  const url = fileUrl(project, path, settings);
  return settings.token
    ? `${url}?token=${encodeURIComponent(settings.token)}`
    : url;
}

/**
 * A JupyterLab contents drive over the platform's files API, so that the
 * lab's editors open and save the datasets' files. Paths are
 * `<project>/<dataset>/<path>`: the root lists the user's projects and a
 * project its datasets (shares not yet accepted are left out).
 *
 * There are no checkpoints (the platform keeps none): saving replaces the
 * file.
 */
export class HopsworksDrive implements Contents.IDrive {
  constructor(options: HopsworksDrive.IOptions = {}) {
    this.serverSettings =
      options.serverSettings ?? ServerConnection.makeSettings();
    this._client = options.client ?? createApiClient(this.serverSettings);
  }

  readonly name = DRIVE_NAME;
  readonly serverSettings: ServerConnection.ISettings;

  get fileChanged(): ISignal<this, Contents.IChangedArgs> {
    return this._fileChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    Signal.clearData(this);
  }

  async get(
    localPath: string,
    options: Contents.IFetchOptions = {}
  ): Promise<Contents.IModel> {
    const parts = split(localPath);
    if (parts.length === 0) {
      return this._projects(options.content !== false);
    }
    if (parts.length === 1) {
      return this._datasets(parts[0], options.content !== false);
    }
    const [project, path] = locate(localPath);
    // What it is first (members may ask; the bytes need the download right),
    // which also gives the modification time the editors compare on save.
    const entry = (await unwrap(
      this._client.GET('/api/projects/{project}/files/{path}', {
        params: { path: { project, path }, query: { stat: true } }
      })
    )) as Entry;
    if (options.content === false) {
      return toModel(project, entry, options);
    }
    if (entry.type === 'dir') {
      return this._folder(project, entry.path);
    }
    const data = await unwrap(
      this._client.GET('/api/projects/{project}/files/{path}', {
        params: { path: { project, path } },
        parseAs: 'arrayBuffer'
      })
    );
    return fileModel(project, entry, new Uint8Array(data), options);
  }

  async getDownloadUrl(localPath: string): Promise<string> {
    const [project, path] = locate(localPath);
    return downloadUrl(project, path, this.serverSettings);
  }

  async newUntitled(
    options: Contents.ICreateOptions = {}
  ): Promise<Contents.IModel> {
    const folder = options.path ?? '';
    const [project, dir] = locate(folder);
    const type = options.type ?? 'file';
    const taken = new Set(await this._names(project, dir));
    let model: Contents.IModel;
    if (type === 'directory') {
      const name = unique(taken, n =>
        n ? `Untitled Folder ${n}` : 'Untitled Folder'
      );
      const entry = await unwrap(
        this._client.POST('/api/projects/{project}/files/{path}', {
          params: { path: { project, path: `${dir}/${name}` } },
          body: { op: 'mkdir' }
        })
      );
      model = toModel(project, entry, {});
    } else {
      const ext = type === 'notebook' ? '.ipynb' : (options.ext ?? '.txt');
      const dotted = ext.startsWith('.') ? ext : `.${ext}`;
      const stem = type === 'notebook' ? 'Untitled' : 'untitled';
      const name = unique(taken, n => `${stem}${n || ''}${dotted}`);
      const body =
        type === 'notebook' ? JSON.stringify(EMPTY_NOTEBOOK, null, 1) : '';
      const entry = await this._put(project, `${dir}/${name}`, body, false);
      model = toModel(project, entry, { type });
    }
    this._fileChanged.emit({ type: 'new', oldValue: null, newValue: model });
    return model;
  }

  async delete(localPath: string): Promise<void> {
    const [project, path] = locate(localPath);
    await unwrap(
      this._client.DELETE('/api/projects/{project}/files/{path}', {
        params: { path: { project, path } }
      })
    );
    this._fileChanged.emit({
      type: 'delete',
      oldValue: { path: localPath },
      newValue: null
    });
  }

  async rename(
    oldLocalPath: string,
    newLocalPath: string
  ): Promise<Contents.IModel> {
    const [project, path] = locate(oldLocalPath);
    const [target, to] = locate(newLocalPath);
    if (target !== project) {
      throw new APIError(
        422,
        'cross_project',
        'Files move only within a project: share the dataset instead.'
      );
    }
    const entry = await unwrap(
      this._client.POST('/api/projects/{project}/files/{path}', {
        params: { path: { project, path } },
        body: { op: 'move', to }
      })
    );
    const model = toModel(project, entry, {});
    this._fileChanged.emit({
      type: 'rename',
      oldValue: { path: oldLocalPath },
      newValue: model
    });
    return model;
  }

  async save(
    localPath: string,
    options: Partial<Contents.IModel> = {}
  ): Promise<Contents.IModel> {
    const [project, path] = locate(localPath);
    if (options.chunk !== undefined) {
      throw new APIError(
        422,
        'chunks_unsupported',
        'Upload large files with the Datasets section of the Hopsworks panel.'
      );
    }
    const format = options.format ?? null;
    const content: unknown = options.content;
    let body: string;
    let bytes: Uint8Array | null = null;
    if (options.type === 'notebook' || format === 'json') {
      body = JSON.stringify(content ?? EMPTY_NOTEBOOK, null, 1);
    } else if (format === 'base64') {
      body = typeof content === 'string' ? content : '';
      bytes = fromBase64(body);
    } else {
      body = typeof content === 'string' ? content : '';
    }
    const entry = await this._put(project, path, body, true, bytes);
    const model = toModel(project, entry, {
      type: options.type,
      format: options.format
    });
    this._fileChanged.emit({ type: 'save', oldValue: null, newValue: model });
    return model;
  }

  async copy(localPath: string, toLocalDir: string): Promise<Contents.IModel> {
    const [project, path] = locate(localPath);
    const [target, dir] = locate(toLocalDir);
    if (target !== project) {
      throw new APIError(
        422,
        'cross_project',
        'Files are copied only within a project: share the dataset instead.'
      );
    }
    const name = PathExt.basename(path);
    const ext = PathExt.extname(name);
    const stem = name.slice(0, name.length - ext.length);
    const taken = new Set(await this._names(project, dir));
    const copy = unique(taken, n => `${stem}-Copy${n || 1}${ext}`, 1);
    const entry = await unwrap(
      this._client.POST('/api/projects/{project}/files/{path}', {
        params: { path: { project, path } },
        body: { op: 'copy', to: `${dir}/${copy}` }
      })
    );
    const model = toModel(project, entry, {});
    this._fileChanged.emit({ type: 'new', oldValue: null, newValue: model });
    return model;
  }

  async createCheckpoint(
    localPath: string
  ): Promise<Contents.ICheckpointModel> {
    return { id: 'checkpoint', last_modified: new Date().toISOString() };
  }

  async listCheckpoints(
    localPath: string
  ): Promise<Contents.ICheckpointModel[]> {
    return [];
  }

  async restoreCheckpoint(
    localPath: string,
    checkpointID: string
  ): Promise<void> {
    // no checkpoints are kept
  }

  async deleteCheckpoint(
    localPath: string,
    checkpointID: string
  ): Promise<void> {
    // no checkpoints are kept
  }

  /**
   * The names in a folder (every page).
   */
  private async _names(project: string, dir: string): Promise<string[]> {
    const folder = await this._folder(project, dir);
    return (folder.content as Contents.IModel[]).map(item => item.name);
  }

  /**
   * A folder's model with every page of its listing.
   */
  private async _folder(
    project: string,
    path: string
  ): Promise<Contents.IModel> {
    const items: Entry[] = [];
    for (;;) {
      const page = (await unwrap(
        this._client.GET('/api/projects/{project}/files/{path}', {
          params: {
            path: { project, path },
            query: { offset: items.length, limit: LIST_PAGE }
          }
        })
      )) as Listing;
      items.push(...page.items);
      if (page.items.length === 0 || items.length >= page.total) {
        break;
      }
    }
    return {
      ...directory(`${project}/${path}`, true),
      content: items.map(item => toModel(project, item, {}))
    };
  }

  /**
   * The root: the user's projects.
   */
  private async _projects(content: boolean): Promise<Contents.IModel> {
    if (!content) {
      return directory('', false);
    }
    const projects = await unwrap(this._client.GET('/api/projects'));
    return {
      ...directory('', false),
      content: projects.items
        .filter(project => project.role)
        .map(project => directory(project.name, false))
    };
  }

  /**
   * A project: its datasets, and the shares it accepted.
   */
  private async _datasets(
    project: string,
    content: boolean
  ): Promise<Contents.IModel> {
    if (!content) {
      return directory(project, false);
    }
    const datasets = await unwrap(
      this._client.GET('/api/projects/{project}/datasets', {
        params: { path: { project } }
      })
    );
    return {
      ...directory(project, false),
      content: datasets.items
        .filter(dataset => dataset.status !== 'PENDING')
        .map(dataset =>
          directory(
            `${project}/${dataset.name}`,
            dataset.rights?.write ?? false
          )
        )
    };
  }

  private _put(
    project: string,
    path: string,
    body: string,
    overwrite: boolean,
    bytes: Uint8Array | null = null
  ): Promise<Entry> {
    // A whole body without Content-Range: never 202 (a resumable chunk).
    return unwrap<Entry | Schemas['UploadProgress']>(
      this._client.PUT('/api/projects/{project}/files/{path}', {
        params: { path: { project, path }, query: { overwrite } },
        body,
        // The raw bytes, not JSON.
        bodySerializer: (text: string) => bytes ?? text,
        headers: { 'Content-Type': 'application/octet-stream' }
      })
    ) as Promise<Entry>;
  }

  private _client: ApiClient;
  private _isDisposed = false;
  private _fileChanged = new Signal<this, Contents.IChangedArgs>(this);
}

/**
 * The namespace for {@link HopsworksDrive} statics.
 */
export namespace HopsworksDrive {
  export interface IOptions {
    /**
     * The server connection (the default one by default).
     */
    serverSettings?: ServerConnection.ISettings;
    /**
     * The API client (one over `serverSettings` by default).
     */
    client?: ApiClient;
  }
}

function split(localPath: string): string[] {
  return localPath.split('/').filter(part => part !== '');
}

/**
 * `<project>/<dataset>/<path>` as `[project, '<dataset>/<path>']`.
 */
function locate(localPath: string): [string, string] {
  const parts = split(localPath);
  if (parts.length < 2) {
    throw new APIError(
      422,
      'invalid_path',
      `${localPath || '/'} is not inside a dataset: files live in <project>/<dataset>/.`
    );
  }
  return [parts[0], parts.slice(1).join('/')];
}

/**
 * The first name `make(n)` not in `taken`, for n = start, start + 1, ...
 */
function unique(
  taken: Set<string>,
  make: (n: number) => string,
  start = 0
): string {
  for (let n = start; ; n++) {
    const name = make(n);
    if (!taken.has(name)) {
      return name;
    }
  }
}

function directory(path: string, writable: boolean): Contents.IModel {
  return {
    name: PathExt.basename(path),
    path,
    type: 'directory',
    writable,
    created: '',
    last_modified: '',
    mimetype: '',
    content: null,
    format: 'json'
  };
}

function isNotebook(path: string, type?: string): boolean {
  return type === 'notebook' || (type === undefined && path.endsWith('.ipynb'));
}

/**
 * The model of an entry, without content.
 */
function toModel(
  project: string,
  entry: Entry,
  options: { type?: string; format?: Contents.FileFormat }
): Contents.IModel {
  const path = `${project}/${entry.path}`;
  if (entry.type === 'dir') {
    return { ...directory(path, true), content: null, size: entry.size };
  }
  const notebook = isNotebook(entry.path, options.type);
  return {
    name: entry.name,
    path,
    type: notebook ? 'notebook' : 'file',
    writable: true,
    created: entry.modified ?? '',
    last_modified: entry.modified ?? '',
    mimetype: notebook ? MIME_TYPES['.ipynb'] : mimeType(entry.path),
    content: null,
    format: options.format ?? null,
    size: entry.size
  };
}

function mimeType(path: string): string {
  return MIME_TYPES[PathExt.extname(path).toLowerCase()] ?? 'text/plain';
}

/**
 * A file's model with its content: a notebook as JSON, UTF-8 text as text,
 * anything else as base64 (or what the caller asked for).
 */
function fileModel(
  project: string,
  entry: Entry,
  bytes: Uint8Array,
  options: Contents.IFetchOptions
): Contents.IModel {
  const { name, path } = entry;
  const base = {
    name,
    path: `${project}/${path}`,
    writable: true,
    created: entry.modified ?? '',
    last_modified: entry.modified ?? '',
    size: bytes.length
  };
  const notebook = isNotebook(path, options.type) && options.format !== 'text';
  if (notebook) {
    const text = decode(bytes);
    if (text === null) {
      throw new APIError(
        422,
        'not_a_notebook',
        `${name} is not a notebook (not UTF-8 text).`
      );
    }
    let content: unknown;
    try {
      content = JSON.parse(text);
    } catch {
      throw new APIError(
        422,
        'not_a_notebook',
        `${name} is not a notebook (not JSON).`
      );
    }
    return {
      ...base,
      type: 'notebook',
      mimetype: MIME_TYPES['.ipynb'],
      content,
      format: 'json'
    };
  }
  const type = options.type ?? 'file';
  if (options.format !== 'base64') {
    const text = decode(bytes);
    if (text !== null) {
      return {
        ...base,
        type,
        mimetype: mimeType(path),
        content: text,
        format: 'text'
      };
    }
    if (options.format === 'text') {
      throw new APIError(
        422,
        'not_text',
        `${name} is not UTF-8 text: download it instead.`
      );
    }
  }
  const mimetype = MIME_TYPES[PathExt.extname(path).toLowerCase()];
  return {
    ...base,
    type,
    mimetype: mimetype ?? 'application/octet-stream',
    content: toBase64(bytes),
    format: 'base64'
  };
}

/**
 * The bytes as UTF-8 text, or null when they are not.
 */
function decode(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text.replace(/\s/g, ''));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}
