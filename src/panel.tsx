import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import {
  ReactWidget,
  refreshIcon,
  ToolbarButtonComponent,
  UseSignal
} from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { APIError, getMe, listProjects, Project, User } from './api';
import { hopsworksIcon } from './icons';

/**
 * The DOM id of the panel.
 */
export const PANEL_ID = 'hopsworks-lab-panel';

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
 * Loads the signed-in user and their projects from the platform API.
 */
export class HopsworksModel {
  get state(): IPanelState {
    return this._state;
  }

  /**
   * Emitted whenever the state changes.
   */
  get stateChanged(): ISignal<this, IPanelState> {
    return this._stateChanged;
  }

  /**
   * Reload the user and the projects. Only the latest refresh's answers are
   * kept when refreshes overlap.
   */
  async refresh(): Promise<void> {
    const generation = ++this._generation;
    this._setState({ ...this._state, loading: true });
    const [user, projects] = await Promise.allSettled([
      getMe(),
      listProjects()
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
    this._setState({
      loading: false,
      user: user.status === 'fulfilled' ? user.value : null,
      projects: projects.status === 'fulfilled' ? projects.value.items : null,
      errors
    });
  }

  private _setState(state: IPanelState): void {
    this._state = state;
    this._stateChanged.emit(state);
  }

  private _generation = 0;
  private _state: IPanelState = {
    loading: false,
    user: null,
    projects: null,
    errors: []
  };
  private _stateChanged = new Signal<this, IPanelState>(this);
}

/**
 * The props of {@link HopsworksView}.
 */
export interface IHopsworksViewProps {
  state: IPanelState;
  onRefresh: () => void;
  translator?: ITranslator;
}

/**
 * Render the panel's state.
 */
export function HopsworksView(props: IHopsworksViewProps): JSX.Element {
  const { state, onRefresh } = props;
  const trans = (props.translator ?? nullTranslator).load('hopsworks_lab');
  const { user, projects, errors, loading } = state;

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
                  className="hwl-project"
                  data-project={project.name}
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
 * The Hopsworks sidebar panel. It reloads its data every time it is shown.
 */
export class HopsworksPanel extends ReactWidget {
  constructor(options: HopsworksPanel.IOptions = {}) {
    super();
    this.model = options.model ?? new HopsworksModel();
    this._translator = options.translator ?? nullTranslator;
    const trans = this._translator.load('hopsworks_lab');
    this.id = PANEL_ID;
    this.addClass('hwl-panel');
    this.title.icon = hopsworksIcon;
    this.title.caption = trans.__('Hopsworks');
    this.title.label = '';
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

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      void this.refresh();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <HopsworksView
            state={this.model.state}
            onRefresh={() => void this.refresh()}
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
