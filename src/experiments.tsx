import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Time } from '@jupyterlab/coreutils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import {
  Button,
  deleteIcon,
  launchIcon,
  stopIcon,
  UseSignal
} from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Schemas } from './api';
import type { ApiClient } from './client';
// The frame (index.ts) loads the client at start-up anyway.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { unwrap } from './client';
import { confirmAction, notifyError } from './feedback';
import { ISectionState, SectionModel } from './polling';
import { ActiveSectionWidget, IHopsworksSidebar } from './sidebar';

export type Experiment = Schemas['Experiment'];
export type ExperimentState = Schemas['ExperimentState'];
export type ExperimentDetail = Schemas['ExperimentDetail'];
export type Trial = Schemas['Trial'];
export type TrialState = Schemas['TrialState'];

/**
 * How often (ms) the section polls while a run is running.
 */
export const EXPERIMENTS_POLL_INTERVAL = 3000;

/**
 * The most runs the server lists in one page (its `limit`).
 */
const MAX_LISTED = 1000;

/**
 * A duration in words: 45 s, 3 min 5 s, 2 h 3 min (sub-second ones in ms).
 */
export function formatSeconds(seconds: number): string {
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  const whole = Math.round(seconds);
  if (whole < 60) {
    return `${whole} s`;
  }
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) {
    return `${minutes} min ${whole % 60} s`;
  }
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

/**
 * How long a run took, or has been running for; null when unknown.
 */
export function experimentSeconds(
  experiment: Pick<Experiment, 'duration_s' | 'created_at' | 'state'>,
  now: number = Date.now()
): number | null {
  if (experiment.duration_s !== null && experiment.duration_s !== undefined) {
    return experiment.duration_s;
  }
  if (experiment.state === 'RUNNING') {
    return Math.max(
      0,
      (now - new Date(experiment.created_at).getTime()) / 1000
    );
  }
  return null;
}

/**
 * A metric as shown: four significant digits, integers as they are.
 */
export function formatMetric(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) {
    return '—';
  }
  if (Number.isInteger(value) && Math.abs(value) < 1e6) {
    return String(value);
  }
  return String(Number(value.toPrecision(4)));
}

/**
 * What the Experiments section shows.
 */
export interface IExperimentsState extends ISectionState {
  /**
   * The runs, newest first (the first `shown` of them).
   */
  experiments: Experiment[] | null;
  /**
   * The project's runs in all.
   */
  total: number;
  /**
   * How many are asked for.
   */
  shown: number;
}

/**
 * The runs of the active project. While one runs (and the section is
 * shown) it reloads every `pollInterval`; it stops when none runs, when
 * hidden or disposed.
 */
export class ExperimentsModel extends SectionModel<IExperimentsState> {
  constructor(options: ExperimentsModel.IOptions) {
    const pageSize = options.pageSize ?? 100;
    super(
      emptyExperimentsState(null, pageSize),
      options.pollInterval ?? EXPERIMENTS_POLL_INTERVAL
    );
    this._client = options.client;
    this._pageSize = pageSize;
  }

  /**
   * Runs listed at a time.
   */
  set pageSize(value: number) {
    this._pageSize = value;
  }

  /**
   * List older runs too.
   */
  showMore(): Promise<void> {
    this.setState({
      ...this.state,
      shown: Math.min(this.state.shown + this._pageSize, MAX_LISTED)
    });
    return this.reload();
  }

  /**
   * Kill a running run: its record becomes KILLED, and the notebook running
   * it stops its trials when it hears so (within seconds). The server lets
   * its creator and a Data Owner do it. True when it accepted.
   */
  kill(experiment: number): Promise<boolean> {
    return this.sendChange(project =>
      unwrap(
        this._client.PATCH('/api/projects/{project}/experiments/{experiment}', {
          params: { path: { project, experiment } },
          body: { state: 'KILLED' }
        })
      )
    );
  }

  /**
   * Delete a run and its folder. True when it worked.
   */
  remove(experiment: number): Promise<boolean> {
    return this.sendChange(project =>
      unwrap(
        this._client.DELETE(
          '/api/projects/{project}/experiments/{experiment}',
          { params: { path: { project, experiment } } }
        )
      )
    );
  }

  protected empty(project: string | null): IExperimentsState {
    return emptyExperimentsState(project, this._pageSize);
  }

  /**
   * The newest `shown` runs of `project`.
   */
  protected async fetch(project: string): Promise<Partial<IExperimentsState>> {
    const list = await unwrap(
      this._client.GET('/api/projects/{project}/experiments', {
        params: { path: { project }, query: { limit: this.state.shown } }
      })
    );
    return { experiments: list.items, total: list.total };
  }

  protected needsPolling(): boolean {
    return (this.state.experiments ?? []).some(e => e.state === 'RUNNING');
  }

  private _client: ApiClient;
  private _pageSize: number;
}

function emptyExperimentsState(
  project: string | null,
  pageSize: number
): IExperimentsState {
  return {
    project,
    experiments: null,
    total: 0,
    shown: Math.min(pageSize, MAX_LISTED),
    loading: false,
    error: null,
    busy: false
  };
}

/**
 * The namespace for {@link ExperimentsModel} statics.
 */
export namespace ExperimentsModel {
  export interface IOptions {
    client: ApiClient;
    /**
     * How often (ms) to reload while a run is running.
     */
    pollInterval?: number;
    /**
     * Runs listed at a time.
     */
    pageSize?: number;
  }
}

/**
 * What the user can do in the Experiments section.
 */
export interface IExperimentsActions {
  open: (experiment: Experiment) => void;
  tensorBoard: (experiment: Experiment) => void;
  kill: (experiment: Experiment) => void;
  remove: (experiment: Experiment) => void;
  showMore: () => void;
}

/**
 * The props of {@link ExperimentsView}.
 */
export interface IExperimentsViewProps {
  state: IExperimentsState;
  actions: IExperimentsActions;
  translator?: ITranslator;
}

/**
 * The runs of the active project, newest first: state, timing, best
 * metric and trial counts, with Open, TensorBoard, Kill and Delete.
 */
export function ExperimentsView(props: IExperimentsViewProps): JSX.Element {
  const { state, actions } = props;
  const trans = (props.translator ?? nullTranslator).load('hopsworks_lab');
  const experiments = state.experiments;
  if (state.project === null) {
    return (
      <div className="hwl-panel-body hwl-experiments">
        <p className="hwl-empty">{trans.__('No active project.')}</p>
      </div>
    );
  }
  return (
    <div
      className="hwl-panel-body hwl-experiments"
      data-project={state.project}
    >
      {state.loading && experiments === null && (
        <div className="hwl-loading" role="status">
          {trans.__('Loading…')}
        </div>
      )}
      {state.error && (
        <div className="hwl-error" role="alert">
          <p className="hwl-error-message">{state.error}</p>
        </div>
      )}
      {experiments && experiments.length === 0 && (
        <p className="hwl-empty">
          {trans.__(
            'No experiments yet: run hopsworks_lab.experiment.launch() or a search in a notebook or job.'
          )}
        </p>
      )}
      {experiments && experiments.length > 0 && (
        <ul
          className="hwl-experiment-list"
          aria-label={trans.__('Experiments of %1', state.project)}
        >
          {experiments.map(experiment => (
            <ExperimentRow
              key={experiment.id}
              experiment={experiment}
              busy={state.busy}
              actions={actions}
              trans={trans}
            />
          ))}
        </ul>
      )}
      {experiments &&
        state.total > experiments.length &&
        state.shown < MAX_LISTED && (
          <Button
            className="hwl-experiment-more"
            minimal
            small
            disabled={state.loading}
            onClick={actions.showMore}
          >
            {trans.__(
              'Show more (%1 of %2 shown)',
              experiments.length,
              state.total
            )}
          </Button>
        )}
    </div>
  );
}

/**
 * A run's trial counts in words: "5 done · 1 failed · 2 early-stopped of 10".
 */
export function trialCounts(
  experiment: Experiment,
  trans: TranslationBundle
): string {
  const counts = experiment.counts;
  const parts = [trans.__('%1 done', counts.FINISHED)];
  if (counts.RUNNING > 0) {
    parts.push(trans.__('%1 running', counts.RUNNING));
  }
  parts.push(trans.__('%1 failed', counts.FAILED));
  parts.push(trans.__('%1 early-stopped', counts.EARLY_STOPPED));
  const text = parts.join(' · ');
  return experiment.trials_total !== null &&
    experiment.trials_total !== undefined
    ? trans.__('%1 (of %2)', text, experiment.trials_total)
    : text;
}

/**
 * A state badge (runs and trials share the look of job executions).
 */
export function StateBadge(props: {
  state: string;
  title?: string;
}): JSX.Element {
  return (
    <span
      className={`hwl-badge hwl-status hwl-status-${props.state.toLowerCase().replace('_', '-')}`}
      data-state={props.state}
      title={props.title}
    >
      {props.state}
    </span>
  );
}

function ExperimentRow(props: {
  experiment: Experiment;
  busy: boolean;
  actions: IExperimentsActions;
  trans: TranslationBundle;
}): JSX.Element {
  const { experiment, busy, actions, trans } = props;
  const seconds = experimentSeconds(experiment);
  const running = experiment.state === 'RUNNING';
  const metricName = experiment.optimization_key ?? trans.__('metric');
  return (
    <li
      className="hwl-experiment"
      data-experiment={experiment.id}
      data-run={experiment.run}
      data-state={experiment.state}
    >
      <div className="hwl-experiment-header">
        <button
          className="hwl-experiment-name hwl-link"
          title={trans.__('Show the trials of %1', experiment.run)}
          aria-label={trans.__('Open %1', experiment.run)}
          onClick={() => actions.open(experiment)}
        >
          {experiment.name}
          <span className="hwl-experiment-id">#{experiment.id}</span>
        </button>
        <span className="hwl-badge hwl-experiment-kind">{experiment.kind}</span>
        <StateBadge state={experiment.state} />
      </div>
      <div className="hwl-experiment-meta">
        <span
          className="hwl-experiment-started"
          title={Time.format(experiment.created_at)}
        >
          {Time.formatHuman(experiment.created_at)}
        </span>
        {seconds !== null && (
          <span className="hwl-experiment-duration">
            {formatSeconds(seconds)}
          </span>
        )}
        <span className="hwl-experiment-user">{experiment.user}</span>
      </div>
      <div className="hwl-experiment-best">
        {experiment.best_metric !== null &&
        experiment.best_metric !== undefined ? (
          <>
            <span className="hwl-experiment-best-label">
              {trans.__('best %1', metricName)}
            </span>{' '}
            <span className="hwl-experiment-best-metric">
              {formatMetric(experiment.best_metric)}
            </span>
            {experiment.best_trial && (
              <span className="hwl-experiment-best-trial">
                {' '}
                {trans.__('(%1)', experiment.best_trial)}
              </span>
            )}
          </>
        ) : (
          <span className="hwl-experiment-best-none">
            {trans.__('no metric yet')}
          </span>
        )}
      </div>
      <div className="hwl-experiment-counts">
        {trialCounts(experiment, trans)}
      </div>
      {experiment.error && (
        <p
          className="hwl-experiment-error hwl-error-message"
          title={experiment.error}
        >
          {experiment.error.split('\n').filter(Boolean).slice(-1)[0]}
        </p>
      )}
      <div className="hwl-experiment-actions">
        <Button
          className="hwl-experiment-tensorboard"
          minimal
          small
          aria-label={trans.__('Open TensorBoard for %1', experiment.run)}
          title={trans.__(
            'Open TensorBoard over the trials of %1',
            experiment.run
          )}
          onClick={() => actions.tensorBoard(experiment)}
        >
          <launchIcon.react tag="span" className="hwl-button-icon" />
          {trans.__('TensorBoard')}
        </Button>
        {running ? (
          <Button
            className="hwl-experiment-kill"
            minimal
            small
            disabled={busy}
            aria-label={trans.__('Kill %1', experiment.run)}
            title={trans.__('Kill %1: stop its trials', experiment.run)}
            onClick={() => actions.kill(experiment)}
          >
            <stopIcon.react tag="span" className="hwl-button-icon" />
            {trans.__('Kill')}
          </Button>
        ) : (
          <Button
            className="hwl-experiment-delete"
            minimal
            small
            disabled={busy}
            aria-label={trans.__('Delete %1', experiment.run)}
            title={trans.__('Delete %1 and its folder', experiment.run)}
            onClick={() => actions.remove(experiment)}
          >
            <deleteIcon.react tag="span" className="hwl-button-icon" />
          </Button>
        )}
      </div>
    </li>
  );
}

/**
 * The Experiments section of the sidebar.
 */
export class ExperimentsPanel extends ActiveSectionWidget<ExperimentsModel> {
  constructor(options: ExperimentsPanel.IOptions) {
    const translator = options.translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');
    super(trans.__('Experiments'), 'hwl-experiments-section', options.sidebar);
    this._translator = translator;
    this._trans = trans;
    this._openRun = options.openRun;
    this._openTensorBoard = options.openTensorBoard;
    this.model = new ExperimentsModel({
      client: options.sidebar.client,
      pollInterval: options.pollInterval,
      pageSize: options.sidebar.preferences.pageSize
    });
    this.sidebar.refreshRequested.connect(this._onRefreshRequested, this);
    if (this.sidebar.model.projects.activeProject !== null) {
      void this.refresh();
    }
  }

  readonly model: ExperimentsModel;

  /**
   * Reload the active project's runs.
   */
  refresh(): Promise<void> {
    this.model.pageSize = this.sidebar.preferences.pageSize;
    return this.model.load(this.sidebar.model.projects.activeProject);
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <ExperimentsView
            state={this.model.state}
            actions={this._actions}
            translator={this._translator}
          />
        )}
      </UseSignal>
    );
  }

  private _onRefreshRequested(): void {
    void this.refresh();
  }

  private async _kill(experiment: Experiment): Promise<void> {
    const trans = this._trans;
    const confirmed = await confirmAction({
      title: trans.__('Kill run %1', experiment.run),
      body: trans.__(
        'Kill run %1? Its running trials are stopped and recorded as failed; the finished ones and their files stay.',
        experiment.run
      ),
      label: trans.__('Kill'),
      trans
    });
    if (confirmed) {
      await this.model.kill(experiment.id);
    }
  }

  private async _remove(experiment: Experiment): Promise<void> {
    const trans = this._trans;
    const confirmed = await confirmAction({
      title: trans.__('Delete run %1', experiment.run),
      body: trans.__(
        'Delete run %1, its trials and its folder Experiments/%1 with everything in it?',
        experiment.run
      ),
      label: trans.__('Delete'),
      trans
    });
    if (confirmed) {
      await this.model.remove(experiment.id);
    }
  }

  private _actions: IExperimentsActions = {
    open: experiment => {
      const project = this.model.state.project;
      if (project !== null) {
        this._openRun(project, experiment);
      }
    },
    tensorBoard: experiment => {
      const project = this.model.state.project;
      if (project !== null) {
        this._openTensorBoard(project, experiment.run);
      }
    },
    kill: experiment => void this._kill(experiment),
    remove: experiment => void this._remove(experiment),
    showMore: () => void this.model.showMore()
  };

  private _openRun: ExperimentsPanel.OpenRun;
  private _openTensorBoard: ExperimentsPanel.OpenTensorBoard;
  private _translator: ITranslator;
  private _trans: TranslationBundle;
}

/**
 * The namespace for {@link ExperimentsPanel} statics.
 */
export namespace ExperimentsPanel {
  /**
   * Show a run's trials (the plugin opens the main-area view).
   */
  export type OpenRun = (project: string, experiment: Experiment) => void;

  /**
   * Open the TensorBoard of a run (the plugin asks the lab server for it
   * and opens it in the main area).
   */
  export type OpenTensorBoard = (project: string, run: string) => void;

  export interface IOptions {
    sidebar: IHopsworksSidebar;
    openRun: OpenRun;
    openTensorBoard: OpenTensorBoard;
    translator?: ITranslator;
    /**
     * How often (ms) to reload while a run is running.
     */
    pollInterval?: number;
  }
}

/**
 * Open a run's TensorBoard; a refusal (no such run, another project) or a
 * TensorBoard that does not start is notified.
 */
export function tensorBoardOpener(
  app: JupyterFrontEnd,
  translator: ITranslator | null
): ExperimentsPanel.OpenTensorBoard {
  const trans = (translator ?? nullTranslator).load('hopsworks_lab');
  return (project, run) => {
    void import('./tensorboard')
      .then(({ openTensorBoard }) =>
        openTensorBoard(app, {
          project,
          run,
          translator: translator ?? undefined
        })
      )
      .catch(error =>
        notifyError(trans.__('Could not open TensorBoard for %1', run), error)
      );
  };
}

/**
 * Adds the Experiments section (rank 700) to the Hopsworks sidebar; a
 * run's trials and its TensorBoard open in the main area.
 */
export const experimentsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'hopsworks-lab:experiments',
  description:
    'The Experiments section of the Hopsworks sidebar: runs with their state, duration, best metric and trial counts; a run opens its trials (sortable table, metric chart, tracebacks) in the main area, and its TensorBoard; the creator or a Data Owner kills or deletes a run.',
  autoStart: true,
  requires: [IHopsworksSidebar],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    sidebar: IHopsworksSidebar,
    translator: ITranslator | null
  ): void => {
    const openTensorBoard = tensorBoardOpener(app, translator);
    const openRun: ExperimentsPanel.OpenRun = (project, experiment) => {
      void import('./experimentView').then(({ openExperiment }) =>
        openExperiment(app, {
          client: sidebar.client,
          project,
          experiment: experiment.id,
          run: experiment.run,
          openTensorBoard,
          translator: translator ?? undefined
        })
      );
    };
    sidebar.addSection(
      new ExperimentsPanel({
        sidebar,
        openRun,
        openTensorBoard,
        translator: translator ?? undefined
      }),
      700
    );
  }
};
