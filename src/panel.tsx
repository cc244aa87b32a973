import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import {
  refreshIcon,
  ToolbarButtonComponent,
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
  User,
  versionMismatch
} from './api';
import { ApiClient, createApiClient, unwrap } from './client';
import { ProjectModel } from './model';
import { SectionWidget } from './sidebar';

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
 * Describe a failed request for the user.
 */
export function describeError(error: unknown): string {
  if (error instanceof APIError) {
    return error.status
      ? `${error.message} (HTTP ${error.status}, ${error.code})`
      : error.message;
  }
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
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
  onRefresh: () => void;
  /**
   * The active project, and whether it is fixed (a hub-spawned server).
   */
  activeProject?: string | null;
  locked?: boolean;
  /**
   * Called with the project the user picks (standalone).
   */
  onSelect?: (project: string) => void;
  translator?: ITranslator;
}

/**
 * Render the panel's state.
 */
export function HopsworksView(props: IHopsworksViewProps): JSX.Element {
  const { state, onRefresh } = props;
  const trans = (props.translator ?? nullTranslator).load('hopsworks_lab');
  const { user, projects, errors, loading, context, mismatch } = state;
  const active = props.activeProject ?? null;
  const members = projects ? memberProjects(projects) : [];

  return (
    <div className="hwl-panel-body">
      <div className="hwl-header">
        <h2 className="hwl-title">{trans.__('Hopsworks')}</h2>
        <ToolbarButtonComponent
          className="hwl-refresh"
          icon={refreshIcon}
          tooltip={trans.__('Refresh')}
          onClick={onRefresh}
          enabled={!loading}
        />
      </div>
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
      {context && !mismatch && props.locked && active && (
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
      {context && !mismatch && !props.locked && members.length > 0 && (
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
 * The Project section of the sidebar: the active project (the server's own
 * in a hub-spawned server, a choice among the user's projects otherwise),
 * the signed-in user and their projects.
 */
export class HopsworksPanel extends SectionWidget {
  constructor(options: HopsworksPanel.IOptions = {}) {
    const translator = options.translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');
    super(trans.__('Project'), 'hwl-project-section');
    this.model = options.model ?? new HopsworksModel();
    this._translator = translator;
  }

  /**
   * The panel's data.
   */
  readonly model: HopsworksModel;

  /**
   * Reload the user and their projects.
   */
  refresh(): Promise<void> {
    return this.model.refresh();
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <HopsworksView
            state={this.model.state}
            onRefresh={() => void this.refresh()}
            activeProject={this.model.projects.activeProject}
            locked={this.model.projects.locked}
            onSelect={project => this.model.projects.select(project)}
            translator={this._translator}
          />
        )}
      </UseSignal>
    );
  }

  private _translator: ITranslator;
}

/**
 * The namespace for {@link HopsworksPanel} statics.
 */
export namespace HopsworksPanel {
  /**
   * The options of the panel.
   */
  export interface IOptions {
    model?: HopsworksModel;
    translator?: ITranslator;
  }
}
