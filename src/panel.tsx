import { Clipboard, Notification } from '@jupyterlab/apputils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import {
  addIcon,
  Button,
  copyIcon,
  downloadIcon,
  UseSignal
} from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import {
  APIError,
  getContext,
  ILabContext,
  Project,
  ProjectRole,
  Schemas,
  User,
  versionMismatch
} from './api';
import { ApiClient, createApiClient, unwrap } from './client';
import { describeError } from './feedback';
import { ProjectModel } from './model';
import {
  certificateBundleFile,
  formatBytes,
  formatHours,
  formatNumber,
  IProjectInfoState,
  ProjectInfoModel,
  saveFile,
  usagePercent
} from './projectInfo';
import { IHopsworksSidebar, SectionWidget } from './sidebar';

/**
 * What the panel shows.
 */
export interface IPanelState {
  /**
   * Whether a refresh is under way.
   */
  loading: boolean;
  /**
   * The signed-in user, once loaded.
   */
  user: User | null;
  /**
   * The user's projects, once loaded.
   */
  projects: Project[] | null;
  /**
   * Messages of the requests that failed in the latest refresh.
   */
  errors: string[];
  /**
   * What the lab server says about itself, once loaded.
   */
  context: ILabContext | null;
  /**
   * Set when the server speaks another API version than this panel: the
   * message to show instead of everything else.
   */
  mismatch: string | null;
}

/**
 * Nothing loaded, nothing under way.
 */
const EMPTY: IPanelState = {
  loading: false,
  user: null,
  projects: null,
  errors: [],
  context: null,
  mismatch: null
};

/**
 * Loads the server's context, the signed-in user and their projects, and
 * keeps the active project (a {@link ProjectModel}) among them.
 */
export class HopsworksModel {
  constructor(options: HopsworksModel.IOptions = {}) {
    this.projects = options.projects ?? new ProjectModel();
    this.client = options.client ?? createApiClient();
    this.projects.changed.connect(() => this._setState({ ...this._state }));
  }

  /**
   * The active project.
   */
  readonly projects: ProjectModel;

  /**
   * The typed platform API client.
   */
  readonly client: ApiClient;

  /**
   * The signed-in user's role in the active project (null when there is no
   * active project or they are not a member of it, e.g. an administrator).
   */
  get role(): ProjectRole | null {
    const active = this.projects.activeProject;
    const project = this._state.projects?.find(p => p.name === active);
    return project?.role ?? null;
  }

  get state(): IPanelState {
    return this._state;
  }

  /**
   * Emitted whenever the state (or the active project) changes.
   */
  get stateChanged(): ISignal<this, IPanelState> {
    return this._stateChanged;
  }

  /**
   * Reload the context, the user and the projects. Only the latest refresh's
   * answers are kept when refreshes overlap. When the server speaks another
   * API version, nothing else is asked and the panel says so.
   */
  async refresh(): Promise<void> {
    const generation = ++this._generation;
    this._setState({ ...this._state, loading: true });
    let context: ILabContext;
    try {
      context = await getContext();
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      this._setState({
        ...EMPTY,
        ...contextFailure(error)
      });
      return;
    }
    if (generation !== this._generation) {
      return;
    }
    const mismatch = versionMismatch(context);
    if (mismatch !== null) {
      this._setState({ ...EMPTY, context, mismatch });
      return;
    }
    await this.projects.setContext(context);

    const [user, projects] = await Promise.allSettled([
      unwrap(this.client.GET('/api/users/me')),
      unwrap(this.client.GET('/api/projects'))
    ]);
    if (generation !== this._generation) {
      return;
    }
    const errors: string[] = [];
    for (const result of [user, projects]) {
      if (result.status === 'rejected') {
        const message = describeError(result.reason);
        if (!errors.includes(message)) {
          errors.push(message);
        }
      }
    }
    if (projects.status === 'fulfilled') {
      this.projects.reconcile(memberProjects(projects.value.items));
    }
    this._setState({
      loading: false,
      user: user.status === 'fulfilled' ? user.value : null,
      projects: projects.status === 'fulfilled' ? projects.value.items : null,
      errors,
      context,
      mismatch: null
    });
  }

  /**
   * Create a project (`POST /api/projects`; the user becomes its Data
   * Owner), reload the projects and, standalone, make it the active one
   * (which asks the sections to reload). A refusal is thrown as an
   * {@link APIError} and changes nothing.
   */
  async createProject(body: Schemas['ProjectCreate']): Promise<Project> {
    const project = await unwrap(this.client.POST('/api/projects', { body }));
    await this.refresh();
    this.projects.select(project.name);
    return project;
  }

  private _setState(state: IPanelState): void {
    this._state = state;
    this._stateChanged.emit(state);
  }

  private _generation = 0;
  private _state: IPanelState = { ...EMPTY };
  private _stateChanged = new Signal<this, IPanelState>(this);
}

/**
 * The namespace for {@link HopsworksModel} statics.
 */
export namespace HopsworksModel {
  /**
   * The options of the model.
   */
  export interface IOptions {
    /**
     * The active project (a new one by default).
     */
    projects?: ProjectModel;
    /**
     * The API client (one for the default server connection by default).
     */
    client?: ApiClient;
  }
}

/**
 * The projects the user can make active: those they are a member of.
 */
export function memberProjects(projects: Project[]): string[] {
  return projects.filter(p => p.role).map(p => p.name);
}

/**
 * The state for a failed context request: a server that refuses this
 * panel's API version, or has no context endpoint at all (a server older
 * than the handshake), is a version mismatch; anything else an error.
 */
function contextFailure(error: unknown): Partial<IPanelState> {
  if (error instanceof APIError) {
    if (error.code === 'version_mismatch') {
      return { mismatch: versionMismatch(error.body) };
    }
    if (error.status === 404) {
      return { mismatch: versionMismatch({}) };
    }
  }
  return { errors: [describeError(error)] };
}

/**
 * The props of {@link HopsworksView}.
 */
export interface IHopsworksViewProps {
  state: IPanelState;
  /**
   * The active project, and whether it is fixed (a hub-spawned server).
   */
  activeProject?: string | null;
  locked?: boolean;
  /**
   * Called with the project the user picks (standalone).
   */
  onSelect?: (project: string) => void;
  /**
   * Called when the user asks to create a project (no button without it,
   * nor in a hub-spawned server: its project-bound key cannot create one).
   */
  onCreate?: () => void;
  /**
   * The active project's usage and certificate (not shown without it).
   */
  info?: IProjectInfoState;
  onShowCertificate?: () => void;
  onDownloadCertificate?: () => void;
  onCopyPassword?: () => void;
  translator?: ITranslator;
}

/**
 * Render the panel's state.
 */
export function HopsworksView(props: IHopsworksViewProps): JSX.Element {
  const { state, info } = props;
  const trans = (props.translator ?? nullTranslator).load('hopsworks_lab');
  const { user, projects, errors, loading, context, mismatch } = state;
  const active = props.activeProject ?? null;
  const members = projects ? memberProjects(projects) : [];
  const ready = context !== null && !mismatch;

  return (
    <div className="hwl-panel-body">
      {loading && (
        <div className="hwl-loading" role="status">
          {trans.__('Loading…')}
        </div>
      )}
      {mismatch && (
        <div className="hwl-mismatch" role="alert">
          {mismatch}
        </div>
      )}
      {errors.length > 0 && (
        <div className="hwl-error" role="alert">
          {errors.map(message => (
            <p key={message} className="hwl-error-message">
              {message}
            </p>
          ))}
        </div>
      )}
      {user && (
        <div className="hwl-user" data-username={user.username}>
          <span className="hwl-username">{user.username}</span>
          {user.is_admin && (
            <span className="hwl-badge hwl-admin-badge">
              {trans.__('admin')}
            </span>
          )}
        </div>
      )}
      {ready && props.locked && active && (
        <div
          className="hwl-active-project"
          data-mode="hub"
          data-project={active}
          title={trans.__('This server belongs to project %1', active)}
        >
          <span className="hwl-active-label">{trans.__('Project')}</span>
          <span className="hwl-active-name">{active}</span>
        </div>
      )}
      {ready && !props.locked && members.length > 0 && (
        <label
          className="hwl-active-project"
          data-mode="standalone"
          data-project={active ?? ''}
        >
          <span className="hwl-active-label">{trans.__('Active project')}</span>
          <select
            className="jp-mod-styled hwl-project-select"
            value={active ?? ''}
            onChange={event => props.onSelect?.(event.target.value)}
          >
            {members.map(name => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
      )}
      {ready && !props.locked && props.onCreate && (
        <div className="hwl-project-actions">
          <Button
            className="hwl-create-project-button"
            small
            minimal
            title={trans.__('Create a new project; you become its Data Owner')}
            onClick={props.onCreate}
          >
            <addIcon.react tag="span" className="hwl-button-icon" />
            {trans.__('New project')}
          </Button>
        </div>
      )}
      {ready && info && active && info.project === active && (
        <>
          <ProjectUsage info={info} trans={trans} />
          <CertificateView
            info={info}
            onShow={props.onShowCertificate}
            onDownload={props.onDownloadCertificate}
            onCopyPassword={props.onCopyPassword}
            trans={trans}
          />
        </>
      )}
      {projects && (
        <div className="hwl-projects">
          <h3 className="hwl-section-title">
            {trans.__('Projects (%1)', projects.length)}
          </h3>
          {projects.length === 0 ? (
            <p className="hwl-empty">{trans.__('No projects yet.')}</p>
          ) : (
            <ul className="hwl-project-list">
              {projects.map(project => (
                <li
                  key={project.name}
                  className={
                    project.name === active
                      ? 'hwl-project hwl-project-active'
                      : 'hwl-project'
                  }
                  data-project={project.name}
                  aria-current={project.name === active ? 'true' : undefined}
                >
                  <div className="hwl-project-header">
                    <span className="hwl-project-name">{project.name}</span>
                    <span
                      className="hwl-role"
                      data-role={project.role ?? ''}
                      title={trans.__('Your role in this project')}
                    >
                      {project.role ?? trans.__('not a member')}
                    </span>
                  </div>
                  {project.description && (
                    <div className="hwl-project-description">
                      {project.description}
                    </div>
                  )}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}

/**
 * One used-of-limit line with its bar; an unlimited limit (-1) shows
 * "unlimited" and no bar.
 */
function UsageRow(props: {
  kind: string;
  label: string;
  used: number;
  limit: number;
  format: (value: number) => string;
  trans: TranslationBundle;
}): JSX.Element {
  const { kind, label, used, limit, format, trans } = props;
  const percent = usagePercent(used, limit);
  const level =
    percent === null
      ? ''
      : percent >= 100
        ? ' hwl-mod-full'
        : percent >= 90
          ? ' hwl-mod-warn'
          : '';
  return (
    <div
      className="hwl-usage-row"
      data-usage={kind}
      data-unlimited={percent === null ? 'true' : 'false'}
    >
      <div className="hwl-usage-text">
        <span className="hwl-usage-label">{label}</span>
        <span className="hwl-usage-value">
          {percent === null
            ? trans.__('%1 used, unlimited', format(used))
            : trans.__('%1 of %2', format(used), format(limit))}
        </span>
      </div>
      {percent !== null && (
        <div
          className={'hwl-usage-bar' + level}
          role="progressbar"
          aria-label={label}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(percent)}
        >
          <div className="hwl-usage-fill" style={{ width: `${percent}%` }} />
        </div>
      )}
    </div>
  );
}

/**
 * The active project's storage quota and compute usage.
 */
function ProjectUsage(props: {
  info: IProjectInfoState;
  trans: TranslationBundle;
}): JSX.Element {
  const { info, trans } = props;
  const { quota, compute } = info;
  return (
    <div className="hwl-usage">
      <h3 className="hwl-section-title">{trans.__('Usage')}</h3>
      {info.loading && !quota && !compute && (
        <div className="hwl-loading" role="status">
          {trans.__('Loading…')}
        </div>
      )}
      {quota && (
        <>
          <UsageRow
            kind="storage"
            label={trans.__('Storage')}
            used={quota.bytes_used}
            limit={quota.bytes_limit}
            format={formatBytes}
            trans={trans}
          />
          <UsageRow
            kind="files"
            label={trans.__('Files')}
            used={quota.files_used}
            limit={quota.files_limit}
            format={formatNumber}
            trans={trans}
          />
        </>
      )}
      {info.quotaError && (
        <div className="hwl-error" role="alert">
          <p className="hwl-error-message">{info.quotaError}</p>
        </div>
      )}
      {compute && (
        <>
          <UsageRow
            kind="gpu-hours"
            label={trans.__('GPU hours')}
            used={compute.gpu_hours_used}
            limit={compute.gpu_hours_limit}
            format={formatHours}
            trans={trans}
          />
          <UsageRow
            kind="cpu-hours"
            label={trans.__('CPU hours')}
            used={compute.cpu_hours_used}
            limit={compute.cpu_hours_limit}
            format={formatHours}
            trans={trans}
          />
          {compute.live_allocations > 0 && (
            <p className="hwl-usage-live" data-live={compute.live_allocations}>
              {trans._n(
                'In use now: %2 GPUs, %3 CPUs (%1 running server or job)',
                'In use now: %2 GPUs, %3 CPUs (%1 running servers or jobs)',
                compute.live_allocations,
                compute.gpus_in_use,
                formatNumber(compute.cpus_in_use)
              )}
            </p>
          )}
        </>
      )}
      {info.computeError && (
        <div className="hwl-error" role="alert">
          <p className="hwl-error-message">{info.computeError}</p>
        </div>
      )}
    </div>
  );
}

/**
 * The user's certificate in the active project (fetched when asked for),
 * the bundle download and the key password.
 */
function CertificateView(props: {
  info: IProjectInfoState;
  onShow?: () => void;
  onDownload?: () => void;
  onCopyPassword?: () => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { info, trans } = props;
  const certificate = info.certificate;
  const [revealed, setRevealed] = React.useState(false);
  const expiry = certificate ? certificateExpiry(certificate.not_after) : null;
  return (
    <div
      className="hwl-certificate"
      data-common-name={certificate?.common_name ?? ''}
    >
      <h3 className="hwl-section-title">{trans.__('Certificate')}</h3>
      {certificate && expiry && (
        <dl className="hwl-cert-details">
          <dt>{trans.__('Common name')}</dt>
          <dd className="hwl-cert-cn">{certificate.common_name}</dd>
          <dt>{trans.__('Serial')}</dt>
          <dd className="hwl-cert-serial">{certificate.serial}</dd>
          <dt>{trans.__('Expires')}</dt>
          <dd
            className={'hwl-cert-expiry' + expiry.level}
            data-not-after={certificate.not_after}
          >
            {expiry.days < 0
              ? trans.__('%1 (expired)', expiry.date)
              : trans._n(
                  '%2 (in %1 day)',
                  '%2 (in %1 days)',
                  expiry.days,
                  expiry.date
                )}
          </dd>
          <dt>{trans.__('Key password')}</dt>
          <dd className="hwl-cert-password-row">
            <code className="hwl-cert-password">
              {revealed ? certificate.password : '••••••••'}
            </code>
            <Button
              className="hwl-cert-reveal"
              minimal
              small
              aria-pressed={revealed}
              title={
                revealed
                  ? trans.__('Hide the key password')
                  : trans.__('Show the key password')
              }
              onClick={() => setRevealed(!revealed)}
            >
              {revealed ? trans.__('Hide') : trans.__('Show')}
            </Button>
            <Button
              className="hwl-cert-copy"
              minimal
              small
              aria-label={trans.__('Copy the key password')}
              title={trans.__('Copy the key password')}
              onClick={props.onCopyPassword}
            >
              <copyIcon.react tag="span" className="hwl-button-icon" />
            </Button>
          </dd>
        </dl>
      )}
      {info.certificateError && (
        <div className="hwl-error" role="alert">
          <p className="hwl-error-message">{info.certificateError}</p>
        </div>
      )}
      <div className="hwl-cert-actions">
        {!certificate && (
          <Button
            className="hwl-cert-show"
            small
            minimal
            disabled={info.certificateLoading}
            title={trans.__(
              'Show your project-user certificate (reading it is audited)'
            )}
            onClick={props.onShow}
          >
            {trans.__('Show certificate')}
          </Button>
        )}
        <Button
          className="hwl-cert-download"
          small
          minimal
          disabled={info.certificateLoading}
          title={trans.__(
            'Download one PEM file with your certificate, your encrypted key and the CA'
          )}
          onClick={props.onDownload}
        >
          <downloadIcon.react tag="span" className="hwl-button-icon" />
          {trans.__('Download bundle')}
        </Button>
      </div>
    </div>
  );
}

/**
 * When a certificate expires, for people: the local date, the whole days
 * left (negative once expired) and a modifier class when it is soon.
 */
function certificateExpiry(notAfter: string): {
  date: string;
  days: number;
  level: string;
} {
  const time = new Date(notAfter).getTime();
  const days = Math.floor((time - Date.now()) / 86_400_000);
  return {
    date: new Date(time).toLocaleDateString(),
    days,
    level: days < 0 ? ' hwl-mod-full' : days < 30 ? ' hwl-mod-warn' : ''
  };
}

/**
 * The Project section of the sidebar: the signed-in user, the active
 * project (the server's own in a hub-spawned server, a choice among the
 * user's projects otherwise), its usage and the user's certificate, and
 * their projects, with a button to create one.
 */
export class HopsworksPanel extends SectionWidget {
  constructor(options: HopsworksPanel.IOptions = {}) {
    const translator = options.translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');
    super(trans.__('Project'), 'hwl-project-section');
    this._sidebar = options.sidebar ?? null;
    this.model =
      options.model ?? options.sidebar?.model ?? new HopsworksModel();
    this.info = new ProjectInfoModel({ client: this.model.client });
    this._translator = translator;
    this._trans = trans;
    this._sidebar?.refreshRequested.connect(this._onRefreshRequested, this);
  }

  /**
   * The user and their projects.
   */
  readonly model: HopsworksModel;

  /**
   * The active project's usage and certificate.
   */
  readonly info: ProjectInfoModel;

  /**
   * Reload the user and their projects, then the active project's usage.
   */
  async refresh(): Promise<void> {
    await this.model.refresh();
    await this._loadInfo();
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <UseSignal signal={this.info.stateChanged}>
            {() => (
              <HopsworksView
                state={this.model.state}
                activeProject={this.model.projects.activeProject}
                locked={this.model.projects.locked}
                onSelect={project => this.model.projects.select(project)}
                onCreate={() => void this._create()}
                info={this.info.state}
                onShowCertificate={() => void this.info.certificate()}
                onDownloadCertificate={() => void this._download()}
                onCopyPassword={() => void this._copyPassword()}
                translator={this._translator}
              />
            )}
          </UseSignal>
        )}
      </UseSignal>
    );
  }

  private _loadInfo(): Promise<void> {
    const { context, mismatch } = this.model.state;
    const ready = context !== null && mismatch === null;
    return this.info.load(ready ? this.model.projects.activeProject : null);
  }

  private _onRefreshRequested(): void {
    // The sidebar has just reloaded the model: only the usage is left.
    void this._loadInfo();
  }

  private async _create(): Promise<void> {
    const { createProjectDialog } = await import('./createProject');
    const project = await createProjectDialog(this.model, this._translator);
    if (project && !this._sidebar) {
      await this._loadInfo();
    }
  }

  private async _download(): Promise<void> {
    const bundle = await this.info.certificate();
    const project = this.info.state.project;
    if (!bundle || project === null) {
      return;
    }
    // The CN is `<project>__<user>`; project names have no "__".
    const username =
      this.model.state.user?.username ??
      bundle.common_name.slice(project.length + 2);
    const file = certificateBundleFile(project, username, bundle);
    saveFile(file.name, file.content);
  }

  private async _copyPassword(): Promise<void> {
    const bundle = await this.info.certificate();
    if (bundle) {
      Clipboard.copyToSystem(bundle.password);
      Notification.info(this._trans.__('Key password copied'), {
        autoClose: 3000
      });
    }
  }

  private _sidebar: IHopsworksSidebar | null;
  private _translator: ITranslator;
  private _trans: TranslationBundle;
}

/**
 * The namespace for {@link HopsworksPanel} statics.
 */
export namespace HopsworksPanel {
  /**
   * The options of the panel.
   */
  export interface IOptions {
    /**
     * The sidebar the section lives in: its model and client are used, and
     * the section reloads when it asks to (`refreshRequested`).
     */
    sidebar?: IHopsworksSidebar;
    /**
     * The model (the sidebar's by default, else a new one).
     */
    model?: HopsworksModel;
    translator?: ITranslator;
  }
}
