import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ServerConnection } from '@jupyterlab/services';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { UseSignal } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

// The section and the drive are built in activate(), as the app starts (the
// sidebar shows the section, restored documents open through the drive), so
// their modules are needed then; nothing here is worth deferring.
/* eslint-disable jupyter/prefer-lazy-imports */
import { APIError, Schemas } from './api';
import { ApiClient, unwrap } from './client';
import { DRIVE_NAME, HopsworksDrive } from './drive';
import { describeError, notifyError } from './feedback';
import { IHopsworksSidebar, SectionWidget } from './sidebar';
import { IUpload, startUpload } from './upload';
import { DatasetsView } from './datasetsView';
/* eslint-enable jupyter/prefer-lazy-imports */

export type Dataset = Schemas['Dataset'];
export type Entry = Schemas['Entry'];
type Listing = Schemas['Listing'];

/**
 * The most entries asked for in one request (the API's limit).
 */
const MAX_PAGE = 10000;

/**
 * An upload shown in the section.
 */
export interface IUploadState {
  id: number;
  /**
   * The target `<dataset>/<path>`.
   */
  path: string;
  name: string;
  loaded: number;
  total: number;
}

/**
 * What the Datasets section shows.
 */
export interface IDatasetsState {
  /**
   * The project the data below belongs to.
   */
  project: string | null;
  loading: boolean;
  /**
   * Why the latest load failed, or null.
   */
  error: string | null;
  /**
   * The project's datasets and those shared into it, once loaded.
   */
  datasets: Dataset[] | null;
  /**
   * The open folder, `<dataset>/<path>`; '' for the list of datasets.
   */
  folder: string;
  /**
   * The entries of the open folder loaded so far (null: not loaded).
   */
  entries: Entry[] | null;
  /**
   * How many entries the open folder has.
   */
  total: number;
  uploads: IUploadState[];
}

const EMPTY: IDatasetsState = {
  project: null,
  loading: false,
  error: null,
  datasets: null,
  folder: '',
  entries: null,
  total: 0,
  uploads: []
};

/**
 * The dataset a `<dataset>/<path>` lies in.
 */
export function datasetOf(path: string): string {
  return path.split('/')[0];
}

/**
 * The active project's datasets and one open folder, paged; the uploads
 * under way. The methods that change something throw the server's
 * {@link APIError}; the view turns it into a notification.
 */
export class DatasetsModel {
  constructor(options: DatasetsModel.IOptions) {
    this._client = options.client;
    this._project = options.project;
    this._pageSize = options.pageSize ?? (() => 100);
    this.serverSettings =
      options.serverSettings ?? ServerConnection.makeSettings();
    this._createRequest = options.createRequest;
  }

  /**
   * The server connection (for download links and uploads).
   */
  readonly serverSettings: ServerConnection.ISettings;

  get state(): IDatasetsState {
    return this._state;
  }

  get stateChanged(): ISignal<this, IDatasetsState> {
    return this._stateChanged;
  }

  /**
   * The dataset of the open folder (null on the list of datasets, or when
   * the list is not loaded).
   */
  get dataset(): Dataset | null {
    const { folder, datasets } = this._state;
    if (!folder || !datasets) {
      return null;
    }
    const name = datasetOf(folder);
    return datasets.find(d => d.name === name) ?? null;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    for (const upload of this._uploads.values()) {
      upload.cancel();
    }
    Signal.clearData(this);
  }

  /**
   * Reload the datasets and the open folder (as many entries as were
   * loaded). A new active project starts again from its list of datasets.
   */
  async refresh(): Promise<void> {
    const project = this._project();
    if (project !== this._state.project) {
      await this._load(project, '', this._pageSize());
      return;
    }
    const loaded = this._state.entries?.length ?? 0;
    // A failure shows in the state (`error`).
    await this._load(
      project,
      this._state.folder,
      Math.min(MAX_PAGE, Math.max(this._pageSize(), loaded))
    );
  }

  /**
   * Open a folder (`<dataset>/<path>`), or the list of datasets ('').
   *
   * @throws the error of a failed load (also shown in the state)
   */
  async open(folder: string): Promise<void> {
    const error = await this._load(
      this._project(),
      trimSlashes(folder),
      this._pageSize()
    );
    if (error !== null) {
      throw error;
    }
  }

  /**
   * Load the next page of the open folder.
   */
  async loadMore(): Promise<void> {
    const { project, folder, entries } = this._state;
    if (!project || !folder || !entries) {
      return;
    }
    const generation = this._generation;
    this._setState({ ...this._state, loading: true });
    try {
      const listing = await this._list(
        project,
        folder,
        entries.length,
        this._pageSize()
      );
      if (generation !== this._generation) {
        return;
      }
      this._setState({
        ...this._state,
        loading: false,
        error: null,
        entries: [...entries, ...listing.items],
        total: listing.total
      });
    } catch (error) {
      if (generation === this._generation) {
        this._setState({
          ...this._state,
          loading: false,
          error: describeError(error)
        });
      }
      throw error;
    }
  }

  /**
   * Whether `<dataset>/<path>` exists in the active project.
   */
  async exists(path: string): Promise<boolean> {
    const project = this._requireProject();
    try {
      await unwrap(
        this._client.GET('/api/projects/{project}/files/{path}', {
          params: { path: { project, path }, query: { stat: true } }
        })
      );
      return true;
    } catch (error) {
      if (error instanceof APIError && error.status === 404) {
        return false;
      }
      throw error;
    }
  }

  /**
   * Create the folder `name` in the open folder.
   */
  async mkdir(name: string): Promise<Entry> {
    const project = this._requireProject();
    const entry = await unwrap(
      this._client.POST('/api/projects/{project}/files/{path}', {
        params: { path: { project, path: `${this._state.folder}/${name}` } },
        body: { op: 'mkdir' }
      })
    );
    await this.refresh();
    return entry;
  }

  /**
   * Rename an entry within its folder.
   */
  async rename(path: string, name: string): Promise<Entry> {
    const project = this._requireProject();
    const parent = path.split('/').slice(0, -1).join('/');
    const entry = await unwrap(
      this._client.POST('/api/projects/{project}/files/{path}', {
        params: { path: { project, path } },
        body: { op: 'move', to: `${parent}/${name}` }
      })
    );
    await this.refresh();
    return entry;
  }

  /**
   * Delete a file or a folder (with everything in it).
   */
  async remove(path: string): Promise<void> {
    const project = this._requireProject();
    await unwrap(
      this._client.DELETE('/api/projects/{project}/files/{path}', {
        params: { path: { project, path } }
      })
    );
    await this.refresh();
  }

  /**
   * Create a dataset in the active project (Data Owners).
   */
  async createDataset(name: string, description: string): Promise<Dataset> {
    const project = this._requireProject();
    const dataset = await unwrap(
      this._client.POST('/api/projects/{project}/datasets', {
        params: { path: { project } },
        body: description ? { name, description } : { name }
      })
    );
    await this.refresh();
    return dataset;
  }

  /**
   * Delete a dataset, its data and its shares.
   */
  async deleteDataset(name: string): Promise<void> {
    const project = this._requireProject();
    await unwrap(
      this._client.DELETE('/api/projects/{project}/datasets/{dataset}', {
        params: { path: { project, dataset: name } }
      })
    );
    if (this._state.folder && datasetOf(this._state.folder) === name) {
      await this.open('');
    } else {
      await this.refresh();
    }
  }

  /**
   * Start uploading `data` as `<dataset>/<path>`; it shows in the state's
   * uploads until it ends, and the folder reloads when it succeeds.
   */
  upload(path: string, data: Blob, overwrite = false): IUpload {
    const project = this._requireProject();
    const upload = startUpload({
      project,
      path,
      data,
      overwrite,
      settings: this.serverSettings,
      createRequest: this._createRequest
    });
    const id = ++this._uploadIds;
    this._uploads.set(id, upload);
    this._setState({
      ...this._state,
      uploads: [
        ...this._state.uploads,
        { id, path, name: upload.name, loaded: 0, total: data.size }
      ]
    });
    upload.progress.connect((_, { loaded, total }) => {
      this._setState({
        ...this._state,
        uploads: this._state.uploads.map(u =>
          u.id === id ? { ...u, loaded, total } : u
        )
      });
    }, this);
    const finish = () => {
      this._uploads.delete(id);
      Signal.disconnectSender(upload);
      if (this._isDisposed) {
        return;
      }
      this._setState({
        ...this._state,
        uploads: this._state.uploads.filter(u => u.id !== id)
      });
    };
    upload.done.then(() => {
      finish();
      if (!this._isDisposed && project === this._state.project) {
        void this.refresh().catch(() => undefined);
      }
    }, finish);
    return upload;
  }

  /**
   * Cancel an upload shown in the state.
   */
  cancelUpload(id: number): void {
    this._uploads.get(id)?.cancel();
  }

  private _requireProject(): string {
    const project = this._state.project ?? this._project();
    if (!project) {
      throw new APIError(0, 'no_project', 'Pick a project first.');
    }
    return project;
  }

  private _list(
    project: string,
    folder: string,
    offset: number,
    limit: number
  ): Promise<Listing> {
    return unwrap(
      this._client.GET('/api/projects/{project}/files/{path}', {
        params: { path: { project, path: folder }, query: { offset, limit } }
      })
    ) as Promise<Listing>;
  }

  /**
   * Load the datasets and `folder`; returns the error of a failed request
   * (null when all went well, or when a newer load took over).
   */
  private async _load(
    project: string | null,
    folder: string,
    limit: number
  ): Promise<unknown> {
    const generation = ++this._generation;
    if (!project) {
      this._setState({ ...EMPTY, uploads: this._state.uploads });
      return null;
    }
    const moved =
      project !== this._state.project || folder !== this._state.folder;
    this._setState({
      ...this._state,
      ...(moved ? { entries: null, total: 0 } : {}),
      project,
      folder,
      datasets: project === this._state.project ? this._state.datasets : null,
      loading: true
    });
    const [datasets, listing] = await Promise.allSettled([
      unwrap(
        this._client.GET('/api/projects/{project}/datasets', {
          params: { path: { project } }
        })
      ),
      folder ? this._list(project, folder, 0, limit) : Promise.resolve(null)
    ]);
    if (generation !== this._generation || this._isDisposed) {
      return null;
    }
    const failed = [datasets, listing].find(r => r.status === 'rejected');
    const error = failed && failed.status === 'rejected' ? failed.reason : null;
    this._setState({
      ...this._state,
      loading: false,
      error: error === null ? null : describeError(error),
      datasets:
        datasets.status === 'fulfilled'
          ? datasets.value.items
          : this._state.datasets,
      entries:
        listing.status === 'fulfilled'
          ? (listing.value?.items ?? null)
          : this._state.entries,
      total:
        listing.status === 'fulfilled'
          ? (listing.value?.total ?? 0)
          : this._state.total
    });
    return error;
  }

  private _setState(state: IDatasetsState): void {
    this._state = state;
    this._stateChanged.emit(state);
  }

  private _client: ApiClient;
  private _project: () => string | null;
  private _pageSize: () => number;
  private _createRequest: (() => XMLHttpRequest) | undefined;
  private _generation = 0;
  private _uploadIds = 0;
  private _uploads = new Map<number, IUpload>();
  private _isDisposed = false;
  private _state: IDatasetsState = { ...EMPTY };
  private _stateChanged = new Signal<this, IDatasetsState>(this);
}

/**
 * The namespace for {@link DatasetsModel} statics.
 */
export namespace DatasetsModel {
  export interface IOptions {
    client: ApiClient;
    /**
     * The active project.
     */
    project: () => string | null;
    /**
     * Entries per page of a folder (the user's preference).
     */
    pageSize?: () => number;
    serverSettings?: ServerConnection.ISettings;
    /**
     * Makes the upload requests (tests pass a fake XMLHttpRequest).
     */
    createRequest?: () => XMLHttpRequest;
  }
}

function trimSlashes(path: string): string {
  return path
    .split('/')
    .filter(part => part !== '')
    .join('/');
}

/**
 * The Datasets section of the sidebar: browse the active project's datasets
 * (and those shared into it), upload, download, open in the editor.
 */
export class DatasetsSection extends SectionWidget {
  constructor(options: DatasetsSection.IOptions) {
    const translator = options.translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');
    super(trans.__('Datasets'), 'hwl-datasets-section');
    this._sidebar = options.sidebar;
    this._translator = translator;
    this._openFile = options.openFile ?? null;
    this.model = new DatasetsModel({
      client: options.sidebar.client,
      project: () => options.sidebar.model.projects.activeProject,
      pageSize: () => options.sidebar.preferences.pageSize,
      serverSettings: options.serverSettings,
      createRequest: options.createRequest
    });
    this._sidebar.refreshRequested.connect(this._onRefresh, this);
    // The user's role (hence the controls) comes with the projects.
    this._sidebar.model.stateChanged.connect(this._onSidebarChanged, this);
  }

  /**
   * The section's data.
   */
  readonly model: DatasetsModel;

  /**
   * Reload the datasets and the open folder.
   */
  refresh(): Promise<void> {
    return this.model.refresh();
  }

  dispose(): void {
    this.model.dispose();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.model.state.project === null) {
      this._onRefresh(); // the active project may be known already
    }
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <DatasetsView
            model={this.model}
            role={this._sidebar.model.role}
            translator={this._translator}
            onOpenFile={this._openFile ?? undefined}
          />
        )}
      </UseSignal>
    );
  }

  private _onRefresh(): void {
    this.model.refresh().catch(() => undefined); // shown inline
  }

  private _onSidebarChanged(): void {
    this.update();
  }

  private _sidebar: IHopsworksSidebar;
  private _translator: ITranslator;
  private _openFile: ((project: string, path: string) => Promise<void>) | null;
}

/**
 * The namespace for {@link DatasetsSection} statics.
 */
export namespace DatasetsSection {
  export interface IOptions {
    sidebar: IHopsworksSidebar;
    translator?: ITranslator;
    /**
     * Open a project's `<dataset>/<path>` in the lab (absent: no Open
     * buttons).
     */
    openFile?: (project: string, path: string) => Promise<void>;
    serverSettings?: ServerConnection.ISettings;
    /**
     * Makes the upload requests (tests pass a fake XMLHttpRequest).
     */
    createRequest?: () => XMLHttpRequest;
  }
}

/**
 * Adds the Datasets section (rank 300) to the Hopsworks sidebar, and the
 * `Hopsworks:` contents drive that opens the datasets' files in the lab's
 * editors (`Hopsworks:<project>/<dataset>/<path>`).
 */
export const datasetsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'hopsworks-lab:datasets',
  description:
    "The Datasets section of the Hopsworks sidebar (browse, upload, download) and the 'Hopsworks:' drive that opens the datasets' files in the editors.",
  autoStart: true,
  requires: [IHopsworksSidebar],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    sidebar: IHopsworksSidebar,
    translator: ITranslator | null
  ): void => {
    translator = translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');
    const serverSettings = app.serviceManager.serverSettings;
    const drive = new HopsworksDrive({
      client: sidebar.client,
      serverSettings
    });
    app.serviceManager.contents.addDrive(drive);
    const openFile = async (project: string, path: string): Promise<void> => {
      try {
        await app.commands.execute('docmanager:open', {
          path: `${DRIVE_NAME}:${project}/${path}`
        });
      } catch (error) {
        notifyError(trans.__('Could not open %1', path), error);
      }
    };
    sidebar.addSection(
      new DatasetsSection({ sidebar, translator, openFile, serverSettings }),
      300
    );
  }
};
