import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { Button, UseSignal } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import type { Schemas } from './api';
// The frame (index.ts) loads the client at startup anyway.
import type { ApiClient } from './client';
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { unwrap } from './client';
import { confirmAction, describeError, notifyError } from './feedback';
import { IHopsworksSidebar, SectionWidget } from './sidebar';

export type Dataset = Schemas['Dataset'];
export type Share = Schemas['Share'];

/**
 * What a share grants the target project.
 */
export type SharePermission = Schemas['SharePermission'];

/**
 * The permissions, in the order the select offers them (the server's default
 * first).
 */
export const PERMISSIONS: readonly SharePermission[] = [
  'READ_ONLY',
  'READ_WRITE'
];

/**
 * The words a user reads for a permission.
 */
export function permissionLabel(
  permission: SharePermission,
  trans: TranslationBundle
): string {
  return permission === 'READ_WRITE'
    ? trans.__('read-write')
    : trans.__('read-only');
}

/**
 * One of the project's own datasets with the projects it is shared with.
 */
export interface IOwnDataset {
  dataset: Dataset;
  /**
   * Its shares, or null when they could not be loaded.
   */
  shares: Share[] | null;
}

/**
 * What the Sharing section shows.
 */
export interface ISharingState {
  /**
   * The project the data below belongs to (null: no active project).
   */
  project: string | null;
  /**
   * Whether a load is under way.
   */
  loading: boolean;
  /**
   * Datasets offered to or shared with the project (`owner::name`).
   */
  incoming: Share[] | null;
  /**
   * The project's own datasets (not the shared-in ones).
   */
  datasets: IOwnDataset[] | null;
  /**
   * The organisation's published datasets.
   */
  catalogue: Dataset[] | null;
  /**
   * Messages of the requests that failed in the latest load.
   */
  errors: string[];
  /**
   * The keys of the actions under way (their controls are disabled).
   */
  busy: string[];
}

const EMPTY: ISharingState = {
  project: null,
  loading: false,
  incoming: null,
  datasets: null,
  catalogue: null,
  errors: [],
  busy: []
};

/**
 * Loads what a project shares and what is shared with it, and performs the
 * sharing actions. A failed action becomes a notification and leaves the
 * state as it was; a successful one reloads.
 */
export class SharingModel {
  constructor(options: SharingModel.IOptions) {
    this._client = options.client;
    this._trans = (options.translator ?? nullTranslator).load('hopsworks_lab');
  }

  get state(): ISharingState {
    return this._state;
  }

  get stateChanged(): ISignal<this, ISharingState> {
    return this._stateChanged;
  }

  /**
   * Emitted after an action that changed the project's own list of datasets
   * (accept, remove, add from the catalogue), so the other sections reload.
   */
  get datasetsChanged(): ISignal<this, void> {
    return this._datasetsChanged;
  }

  /**
   * Load `project`'s shares, its datasets with their shares and the
   * catalogue. Only the latest load's answers are kept when loads overlap.
   */
  async load(project: string | null): Promise<void> {
    const generation = ++this._generation;
    if (project === null) {
      this._setState({ ...EMPTY });
      return;
    }
    // Another project's data must not show under this one while loading.
    const base =
      project === this._state.project
        ? this._state
        : { ...EMPTY, project, busy: [] };
    this._setState({ ...base, loading: true });

    const client = this._client;
    const path = { project };
    const [datasets, incoming, catalogue] = await Promise.allSettled([
      unwrap(
        client.GET('/api/projects/{project}/datasets', { params: { path } })
      ),
      unwrap(
        client.GET('/api/projects/{project}/shares', { params: { path } })
      ),
      unwrap(client.GET('/api/datasets/public'))
    ]);
    const failures: unknown[] = [];
    let own: IOwnDataset[] | null = null;
    if (datasets.status === 'fulfilled') {
      const mine = datasets.value.items.filter(d => !d.shared);
      const shares = await Promise.allSettled(
        mine.map(d =>
          unwrap(
            client.GET('/api/projects/{project}/datasets/{dataset}/shares', {
              params: { path: { project, dataset: d.name } }
            })
          )
        )
      );
      own = mine.map((dataset, i) => {
        const result = shares[i];
        if (result.status === 'rejected') {
          failures.push(result.reason);
          return { dataset, shares: null };
        }
        return { dataset, shares: result.value.items };
      });
    } else {
      failures.unshift(datasets.reason);
    }
    for (const result of [incoming, catalogue]) {
      if (result.status === 'rejected') {
        failures.push(result.reason);
      }
    }
    if (generation !== this._generation) {
      return;
    }
    const errors: string[] = [];
    for (const failure of failures) {
      const message = describeError(failure);
      if (!errors.includes(message)) {
        errors.push(message);
      }
    }
    // Notify once per new failure, not on every periodic refresh.
    const previous = this._state.errors;
    for (const message of errors) {
      if (!previous.includes(message)) {
        notifyError(this._trans.__('Sharing of %1: %2', project, message));
      }
    }
    this._setState({
      ...this._state,
      project,
      loading: false,
      datasets: own,
      incoming: incoming.status === 'fulfilled' ? incoming.value.items : null,
      catalogue:
        catalogue.status === 'fulfilled' ? catalogue.value.items : null,
      errors
    });
  }

  /**
   * Reload the current project's data.
   */
  reload(): Promise<void> {
    return this.load(this._state.project);
  }

  /**
   * Accept a dataset offered to the project.
   */
  accept(ref: string): Promise<boolean> {
    return this._act(
      `accept:${ref}`,
      project =>
        this._client.POST('/api/projects/{project}/shares/{dataset}/accept', {
          params: { path: { project, dataset: ref } }
        }),
      this._trans.__('Could not accept %1', ref),
      true
    );
  }

  /**
   * Reject an offer, or drop an accepted shared dataset from the project.
   */
  leave(ref: string): Promise<boolean> {
    return this._act(
      `leave:${ref}`,
      project =>
        this._client.DELETE('/api/projects/{project}/shares/{dataset}', {
          params: { path: { project, dataset: ref } }
        }),
      this._trans.__('Could not remove %1', ref),
      true
    );
  }

  /**
   * Change what `target` may do with one of the project's datasets.
   */
  setPermission(
    dataset: string,
    target: string,
    permission: SharePermission
  ): Promise<boolean> {
    return this._act(
      `permission:${dataset}:${target}`,
      project =>
        this._client.PUT(
          '/api/projects/{project}/datasets/{dataset}/shares/{target}',
          {
            params: { path: { project, dataset, target } },
            body: { permission }
          }
        ),
      this._trans.__(
        'Could not change the permission of %1 for %2',
        dataset,
        target
      ),
      false
    );
  }

  /**
   * Stop sharing one of the project's datasets with `target`.
   */
  unshare(dataset: string, target: string): Promise<boolean> {
    return this._act(
      `unshare:${dataset}:${target}`,
      project =>
        this._client.DELETE(
          '/api/projects/{project}/datasets/{dataset}/shares/{target}',
          { params: { path: { project, dataset, target } } }
        ),
      this._trans.__('Could not stop sharing %1 with %2', dataset, target),
      false
    );
  }

  /**
   * Publish one of the project's datasets to the organisation, or withdraw
   * it.
   */
  setPublic(dataset: string, value: boolean): Promise<boolean> {
    return this._act(
      `public:${dataset}`,
      project =>
        this._client.PATCH('/api/projects/{project}/datasets/{dataset}', {
          params: { path: { project, dataset } },
          body: { public: value }
        }),
      value
        ? this._trans.__('Could not publish %1', dataset)
        : this._trans.__('Could not unpublish %1', dataset),
      false
    );
  }

  /**
   * Add a published dataset to the project (read-only).
   */
  addPublic(ref: string): Promise<boolean> {
    return this._act(
      `add:${ref}`,
      project =>
        this._client.POST('/api/projects/{project}/shares', {
          params: { path: { project } },
          body: { dataset: ref }
        }),
      this._trans.__('Could not add %1', ref),
      true
    );
  }

  /**
   * Run one action on the current project: a failure is notified and
   * changes nothing; a success reloads (and tells the other sections when
   * the project's datasets changed).
   */
  private async _act(
    key: string,
    call: (
      project: string
    ) => Promise<{ data?: unknown; error?: unknown; response: Response }>,
    what: string,
    changesDatasets: boolean
  ): Promise<boolean> {
    const project = this._state.project;
    if (project === null || this._state.busy.includes(key)) {
      return false;
    }
    this._setBusy(key, true);
    try {
      await unwrap(call(project));
    } catch (error) {
      notifyError(what, error);
      return false;
    } finally {
      this._setBusy(key, false);
    }
    if (changesDatasets) {
      this._datasetsChanged.emit();
    }
    await this.reload();
    return true;
  }

  private _setBusy(key: string, busy: boolean): void {
    const others = this._state.busy.filter(k => k !== key);
    this._setState({
      ...this._state,
      busy: busy ? [...others, key] : others
    });
  }

  private _setState(state: ISharingState): void {
    this._state = state;
    this._stateChanged.emit(state);
  }

  private _client: ApiClient;
  private _trans: TranslationBundle;
  private _generation = 0;
  private _state: ISharingState = { ...EMPTY };
  private _stateChanged = new Signal<this, ISharingState>(this);
  private _datasetsChanged = new Signal<this, void>(this);
}

/**
 * The namespace for {@link SharingModel} statics.
 */
export namespace SharingModel {
  export interface IOptions {
    client: ApiClient;
    translator?: ITranslator;
  }
}

/**
 * What the user can do from the section; the section confirms the
 * destructive ones before calling the model.
 */
export interface ISharingActions {
  accept(ref: string): void;
  reject(ref: string): void;
  remove(ref: string): void;
  share(dataset: string): void;
  setPermission(
    dataset: string,
    target: string,
    permission: SharePermission
  ): void;
  unshare(dataset: string, target: string): void;
  setPublic(dataset: string, value: boolean): void;
  add(ref: string): void;
}

/**
 * The props of {@link SharingView}.
 */
export interface ISharingViewProps {
  state: ISharingState;
  /**
   * Whether the user is a Data Owner of the project: only then are the
   * controls that change sharing shown.
   */
  canManage: boolean;
  /**
   * Rows rendered per "Load more".
   */
  pageSize: number;
  actions: ISharingActions;
  translator?: ITranslator;
}

/**
 * The catalogue entries that are not in the project yet: neither its own
 * dataset nor already offered to or shared with it.
 */
export function addableDatasets(state: ISharingState): Dataset[] {
  const present = new Set((state.incoming ?? []).map(s => s.dataset));
  return (state.catalogue ?? []).filter(
    d => d.owner_project !== state.project && !present.has(d.name)
  );
}

/**
 * Render the Sharing section.
 */
export function SharingView(props: ISharingViewProps): JSX.Element {
  const { state, canManage, pageSize, actions } = props;
  const trans = (props.translator ?? nullTranslator).load('hopsworks_lab');
  const busy = (key: string) => state.busy.includes(key);

  if (state.project === null) {
    return (
      <div className="hwl-sharing">
        <p className="hwl-empty">{trans.__('No active project.')}</p>
      </div>
    );
  }
  const addable = state.catalogue === null ? null : addableDatasets(state);
  const nothingYet =
    state.incoming === null &&
    state.datasets === null &&
    state.catalogue === null;

  return (
    <div className="hwl-sharing" data-project={state.project}>
      {state.loading && nothingYet && (
        <div className="hwl-loading" role="status">
          {trans.__('Loading…')}
        </div>
      )}
      {state.errors.length > 0 && (
        <div className="hwl-error" role="alert">
          {state.errors.map(message => (
            <p key={message} className="hwl-error-message">
              {message}
            </p>
          ))}
        </div>
      )}

      {state.incoming && (
        <div className="hwl-sharing-group hwl-sharing-incoming">
          <h3 className="hwl-section-title">
            {trans.__('Shared with this project')}
          </h3>
          <PagedList
            items={state.incoming}
            pageSize={pageSize}
            empty={trans.__('Nothing is shared with this project.')}
            trans={trans}
            render={share => (
              <li
                key={share.dataset}
                className="hwl-share-row hwl-share-incoming"
                data-dataset={share.dataset}
                data-status={share.status}
                data-permission={share.permission}
              >
                <div className="hwl-share-row-header">
                  <span className="hwl-share-name">{share.dataset}</span>
                  <StatusBadge status={share.status} trans={trans} />
                  <span
                    className="hwl-badge hwl-share-permission"
                    data-permission={share.permission}
                  >
                    {permissionLabel(share.permission, trans)}
                  </span>
                </div>
                {share.shared_by && (
                  <div className="hwl-share-meta">
                    {trans.__('Shared by %1', share.shared_by)}
                  </div>
                )}
                {canManage && (
                  <div className="hwl-share-actions">
                    {share.status === 'PENDING' ? (
                      <>
                        <Button
                          small
                          className="hwl-share-accept"
                          aria-label={trans.__('Accept %1', share.dataset)}
                          title={trans.__(
                            'Accept %1 into this project',
                            share.dataset
                          )}
                          disabled={busy(`accept:${share.dataset}`)}
                          onClick={() => actions.accept(share.dataset)}
                        >
                          {trans.__('Accept')}
                        </Button>
                        <Button
                          small
                          minimal
                          className="hwl-share-reject"
                          aria-label={trans.__('Reject %1', share.dataset)}
                          title={trans.__(
                            'Reject the offer of %1',
                            share.dataset
                          )}
                          disabled={busy(`leave:${share.dataset}`)}
                          onClick={() => actions.reject(share.dataset)}
                        >
                          {trans.__('Reject')}
                        </Button>
                      </>
                    ) : (
                      <Button
                        small
                        minimal
                        className="hwl-share-remove"
                        aria-label={trans.__('Remove %1', share.dataset)}
                        title={trans.__(
                          'Remove %1 from this project',
                          share.dataset
                        )}
                        disabled={busy(`leave:${share.dataset}`)}
                        onClick={() => actions.remove(share.dataset)}
                      >
                        {trans.__('Remove')}
                      </Button>
                    )}
                  </div>
                )}
              </li>
            )}
          />
        </div>
      )}

      {state.datasets && (
        <div className="hwl-sharing-group hwl-sharing-own">
          <h3 className="hwl-section-title">
            {trans.__("This project's datasets")}
          </h3>
          <PagedList
            items={state.datasets}
            pageSize={pageSize}
            empty={trans.__('This project has no datasets.')}
            trans={trans}
            render={({ dataset, shares }) => (
              <li
                key={dataset.name}
                className="hwl-share-row hwl-share-dataset"
                data-dataset={dataset.name}
                data-public={dataset.public ? 'true' : 'false'}
              >
                <div className="hwl-share-row-header">
                  <span className="hwl-share-name">{dataset.name}</span>
                  {dataset.public && (
                    <span
                      className="hwl-badge hwl-share-public"
                      title={trans.__('Published to the whole organisation')}
                    >
                      {trans.__('public')}
                    </span>
                  )}
                </div>
                {canManage && (
                  <div className="hwl-share-actions">
                    <Button
                      small
                      className="hwl-share-share"
                      aria-label={trans.__('Share %1', dataset.name)}
                      title={trans.__(
                        'Offer %1 to another project',
                        dataset.name
                      )}
                      onClick={() => actions.share(dataset.name)}
                    >
                      {trans.__('Share…')}
                    </Button>
                    {dataset.public ? (
                      <Button
                        small
                        minimal
                        className="hwl-share-unpublish"
                        aria-label={trans.__('Unpublish %1', dataset.name)}
                        title={trans.__(
                          'Withdraw %1 from the catalogue',
                          dataset.name
                        )}
                        disabled={busy(`public:${dataset.name}`)}
                        onClick={() => actions.setPublic(dataset.name, false)}
                      >
                        {trans.__('Unpublish')}
                      </Button>
                    ) : (
                      <Button
                        small
                        minimal
                        className="hwl-share-publish"
                        aria-label={trans.__('Publish %1', dataset.name)}
                        title={trans.__(
                          'Publish %1 to the whole organisation',
                          dataset.name
                        )}
                        disabled={busy(`public:${dataset.name}`)}
                        onClick={() => actions.setPublic(dataset.name, true)}
                      >
                        {trans.__('Publish')}
                      </Button>
                    )}
                  </div>
                )}
                {shares && shares.length === 0 && (
                  <div className="hwl-share-meta">{trans.__('Not shared')}</div>
                )}
                {shares && shares.length > 0 && (
                  <ul className="hwl-share-targets">
                    {shares.map(share => (
                      <ShareTarget
                        key={share.project}
                        dataset={dataset.name}
                        share={share}
                        canManage={canManage}
                        busy={busy}
                        actions={actions}
                        trans={trans}
                      />
                    ))}
                  </ul>
                )}
              </li>
            )}
          />
        </div>
      )}

      {addable && (
        <div className="hwl-sharing-group hwl-sharing-catalogue">
          <h3 className="hwl-section-title">{trans.__('Catalogue')}</h3>
          <PagedList
            items={addable}
            pageSize={pageSize}
            empty={trans.__('No published datasets to add.')}
            trans={trans}
            render={dataset => (
              <li
                key={dataset.name}
                className="hwl-share-row hwl-share-public-dataset"
                data-dataset={dataset.name}
              >
                <div className="hwl-share-row-header">
                  <span className="hwl-share-name">{dataset.name}</span>
                </div>
                {dataset.description && (
                  <div className="hwl-share-meta">{dataset.description}</div>
                )}
                {canManage && (
                  <div className="hwl-share-actions">
                    <Button
                      small
                      className="hwl-share-add"
                      aria-label={trans.__('Add %1 to project', dataset.name)}
                      title={trans.__(
                        'Add %1 to %2, read-only',
                        dataset.name,
                        state.project ?? ''
                      )}
                      disabled={busy(`add:${dataset.name}`)}
                      onClick={() => actions.add(dataset.name)}
                    >
                      {trans.__('Add to project')}
                    </Button>
                  </div>
                )}
              </li>
            )}
          />
        </div>
      )}
    </div>
  );
}

/**
 * One project a dataset is shared with.
 */
function ShareTarget(props: {
  dataset: string;
  share: Share;
  canManage: boolean;
  busy: (key: string) => boolean;
  actions: ISharingActions;
  trans: TranslationBundle;
}): JSX.Element {
  const { dataset, share, canManage, busy, actions, trans } = props;
  const target = share.project;
  return (
    <li
      className="hwl-share-target"
      data-target={target}
      data-status={share.status}
      data-permission={share.permission}
    >
      <span className="hwl-share-target-name">{target}</span>
      <StatusBadge status={share.status} trans={trans} />
      {canManage ? (
        <select
          className="jp-mod-styled hwl-share-permission-select"
          value={share.permission}
          aria-label={trans.__('Permission of %1 for %2', dataset, target)}
          disabled={busy(`permission:${dataset}:${target}`)}
          onChange={event => {
            const permission = PERMISSIONS.find(p => p === event.target.value);
            if (permission && permission !== share.permission) {
              actions.setPermission(dataset, target, permission);
            }
          }}
        >
          {PERMISSIONS.map(permission => (
            <option key={permission} value={permission}>
              {permissionLabel(permission, trans)}
            </option>
          ))}
        </select>
      ) : (
        <span
          className="hwl-badge hwl-share-permission"
          data-permission={share.permission}
        >
          {permissionLabel(share.permission, trans)}
        </span>
      )}
      {canManage && (
        <Button
          small
          minimal
          className="hwl-share-unshare"
          aria-label={trans.__('Unshare %1 with %2', dataset, target)}
          title={trans.__('Stop sharing %1 with %2', dataset, target)}
          disabled={busy(`unshare:${dataset}:${target}`)}
          onClick={() => actions.unshare(dataset, target)}
        >
          {trans.__('Unshare')}
        </Button>
      )}
    </li>
  );
}

function StatusBadge(props: {
  status: Share['status'];
  trans: TranslationBundle;
}): JSX.Element {
  const { status, trans } = props;
  return (
    <span className="hwl-badge hwl-share-status" data-status={status}>
      {status === 'PENDING' ? trans.__('pending') : trans.__('accepted')}
    </span>
  );
}

/**
 * A list rendered `pageSize` rows at a time, with a "Load more" button.
 */
function PagedList<T>(props: {
  items: T[];
  pageSize: number;
  empty: string;
  trans: TranslationBundle;
  render: (item: T) => JSX.Element;
}): JSX.Element {
  const { items, pageSize, empty, trans, render } = props;
  const step = Math.max(1, pageSize);
  const [shown, setShown] = React.useState(step);
  if (items.length === 0) {
    return <p className="hwl-empty">{empty}</p>;
  }
  return (
    <>
      <ul className="hwl-share-list">{items.slice(0, shown).map(render)}</ul>
      {items.length > shown && (
        <Button
          small
          minimal
          className="hwl-share-more"
          onClick={() => setShown(shown + step)}
        >
          {trans.__('Load more (%1 of %2 shown)', shown, items.length)}
        </Button>
      )}
    </>
  );
}

/**
 * The Sharing section of the Hopsworks sidebar: what the active project
 * shares, what is shared with it, and the organisation's catalogue.
 */
export class SharingSection extends SectionWidget {
  constructor(options: SharingSection.IOptions) {
    const translator = options.translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');
    super(trans.__('Sharing'), 'hwl-sharing-section');
    this._sidebar = options.sidebar;
    this._translator = translator;
    this._trans = trans;
    this.model =
      options.model ??
      new SharingModel({ client: options.sidebar.client, translator });
    this._sidebar.refreshRequested.connect(this._onRefresh, this);
    // The user's role may change with a refresh: re-render.
    this._sidebar.model.stateChanged.connect(this._onContext, this);
    this.model.datasetsChanged.connect(this._onDatasetsChanged, this);
  }

  readonly model: SharingModel;

  /**
   * Reload the active project's sharing.
   */
  refresh(): Promise<void> {
    return this.model.load(this._sidebar.model.projects.activeProject);
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    // Added after the sidebar's first refresh: load now.
    if (
      this.model.state.project !== this._sidebar.model.projects.activeProject
    ) {
      void this.refresh();
    }
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <SharingView
            state={this.model.state}
            canManage={this._sidebar.model.role === 'DATA_OWNER'}
            pageSize={this._sidebar.preferences.pageSize}
            actions={this._actions}
            translator={this._translator}
          />
        )}
      </UseSignal>
    );
  }

  private _onRefresh(): void {
    void this.refresh();
  }

  private _onContext(): void {
    this.update();
  }

  private _onDatasetsChanged(): void {
    this._sidebar.refresh();
  }

  private _actions: ISharingActions = {
    accept: ref => void this.model.accept(ref),
    reject: ref => void this.model.leave(ref),
    remove: ref => {
      const trans = this._trans;
      void confirmAction({
        title: trans.__('Remove %1?', ref),
        body: trans.__(
          "%1 leaves this project: its members lose access to it. The owner's data is not touched.",
          ref
        ),
        label: trans.__('Remove'),
        trans
      }).then(ok => (ok ? this.model.leave(ref) : false));
    },
    share: dataset => {
      const project = this.model.state.project;
      if (project === null) {
        return;
      }
      void import('./shareDialog')
        .then(({ showShareDialog }) =>
          showShareDialog({
            client: this._sidebar.client,
            project,
            dataset,
            translator: this._translator
          })
        )
        .then(shared => (shared ? this.model.reload() : undefined));
    },
    setPermission: (dataset, target, permission) =>
      void this.model.setPermission(dataset, target, permission),
    unshare: (dataset, target) => {
      const trans = this._trans;
      void confirmAction({
        title: trans.__('Stop sharing %1 with %2?', dataset, target),
        body: trans.__(
          'The members of %1 lose access to %2 at once.',
          target,
          dataset
        ),
        label: trans.__('Unshare'),
        trans
      }).then(ok => (ok ? this.model.unshare(dataset, target) : false));
    },
    setPublic: (dataset, value) => void this.model.setPublic(dataset, value),
    add: ref => void this.model.addPublic(ref)
  };

  private _sidebar: IHopsworksSidebar;
  private _translator: ITranslator;
  private _trans: TranslationBundle;
}

/**
 * The namespace for {@link SharingSection} statics.
 */
export namespace SharingSection {
  export interface IOptions {
    sidebar: IHopsworksSidebar;
    translator?: ITranslator;
    /**
     * The section's data (a new model on the sidebar's client by default).
     */
    model?: SharingModel;
  }
}

/**
 * Adds the Sharing section to the Hopsworks sidebar.
 */
export const sharingPlugin: JupyterFrontEndPlugin<void> = {
  id: 'hopsworks-lab:sharing',
  description:
    "The Sharing section of the Hopsworks sidebar: datasets shared with the active project (accept, reject, remove), the project's own datasets and who they are shared with (share, change permission, unshare, publish), and the organisation's catalogue of published datasets.",
  autoStart: true,
  requires: [IHopsworksSidebar],
  optional: [ITranslator],
  activate: (
    _: JupyterFrontEnd,
    sidebar: IHopsworksSidebar,
    translator: ITranslator | null
  ): void => {
    sidebar.addSection(
      new SharingSection({ sidebar, translator: translator ?? undefined }),
      400
    );
  }
};
