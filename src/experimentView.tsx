import type { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Time } from '@jupyterlab/coreutils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import {
  Button,
  caretDownIcon,
  caretRightIcon,
  launchIcon,
  UseSignal
} from '@jupyterlab/ui-components';
import * as React from 'react';

import type { ApiClient } from './client';
import { unwrap } from './client';
import {
  experimentSeconds,
  ExperimentDetail,
  ExperimentsPanel,
  formatMetric,
  formatSeconds,
  StateBadge,
  Trial,
  trialCounts
} from './experiments';
import { describeError } from './feedback';
import { HistoryChart, MetricChart } from './metricChart';
import {
  FollowingModel,
  FollowingView,
  isFinalError,
  openFollowingView,
  RoundResult
} from './polling';

/**
 * How often (ms) a running run's trials are read.
 */
export const RUN_POLL_INTERVAL = 2000;

/**
 * A sortable column of the trials table.
 */
export interface ITrialColumn {
  /**
   * `trial`, `state`, `metric`, `duration`, or `param:<name>` for a
   * hyperparameter.
   */
  key: string;
  label: string;
  /**
   * What the column sorts by (null: no value, always last).
   */
  value: (trial: Trial) => string | number | null;
  /**
   * What the cell shows.
   */
  text: (trial: Trial) => string;
}

/**
 * The order of the trials table.
 */
export interface ITrialSort {
  column: string;
  descending: boolean;
}

/**
 * The hyperparameters of a run's trials, in the order they first appear.
 */
export function paramNames(trials: readonly Trial[]): string[] {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const trial of trials) {
    for (const name of Object.keys(trial.params ?? {})) {
      if (!seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
    }
  }
  return names;
}

function paramText(value: unknown): string {
  if (value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    return formatMetric(value);
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The columns of a run's trials table: trial, state, one per
 * hyperparameter, the metric, the duration.
 */
export function trialColumns(
  experiment: Pick<ExperimentDetail, 'trials' | 'optimization_key'>,
  trans: TranslationBundle
): ITrialColumn[] {
  const params = paramNames(experiment.trials).map((name): ITrialColumn => ({
    key: `param:${name}`,
    label: name,
    value: trial => {
      const value = (trial.params ?? {})[name];
      if (value === undefined || value === null) {
        return null;
      }
      return typeof value === 'number' ? value : paramText(value);
    },
    text: trial => paramText((trial.params ?? {})[name])
  }));
  return [
    {
      key: 'trial',
      label: trans.__('trial'),
      value: trial => trial.index,
      text: trial => trial.trial
    },
    {
      key: 'state',
      label: trans.__('state'),
      value: trial => trial.state,
      text: trial => trial.state
    },
    ...params,
    {
      key: 'metric',
      label: experiment.optimization_key ?? trans.__('metric'),
      value: trial => trial.metric ?? null,
      text: trial => formatMetric(trial.metric)
    },
    {
      key: 'duration',
      label: trans.__('duration'),
      value: trial => trial.duration_s ?? null,
      text: trial =>
        trial.duration_s === null || trial.duration_s === undefined
          ? ''
          : formatSeconds(trial.duration_s)
    }
  ];
}

/**
 * The trials sorted by one column; trials without a value come last either
 * way, ties keep the trials' order.
 */
export function sortTrials(
  trials: readonly Trial[],
  columns: readonly ITrialColumn[],
  sort: ITrialSort
): Trial[] {
  const column =
    columns.find(c => c.key === sort.column) ??
    columns.find(c => c.key === 'trial')!;
  const sign = sort.descending ? -1 : 1;
  return trials
    .map(trial => ({ trial, value: column.value(trial) }))
    .sort((a, b) => {
      if (a.value === null || b.value === null) {
        if (a.value === b.value) {
          return a.trial.index - b.trial.index;
        }
        return a.value === null ? 1 : -1;
      }
      let order: number;
      if (typeof a.value === 'number' && typeof b.value === 'number') {
        order = a.value - b.value;
      } else {
        order = String(a.value).localeCompare(String(b.value), undefined, {
          numeric: true
        });
      }
      return order !== 0 ? sign * order : a.trial.index - b.trial.index;
    })
    .map(({ trial }) => trial);
}

/**
 * What a run's view shows.
 */
export interface IExperimentRunState {
  experiment: ExperimentDetail | null;
  /**
   * Why the latest read failed.
   */
  error: string | null;
  /**
   * Nothing more will change: the run ended (or cannot be read).
   */
  done: boolean;
  sort: ITrialSort;
  /**
   * The trials whose details (traceback, metrics, outputs) are open.
   */
  expanded: readonly string[];
}

/**
 * One run with its trials, read again every `pollInterval` while it runs.
 */
export class ExperimentRunModel extends FollowingModel<IExperimentRunState> {
  constructor(options: ExperimentRunModel.IOptions) {
    super(
      {
        experiment: null,
        error: null,
        done: false,
        sort: { column: 'trial', descending: false },
        expanded: []
      },
      options.pollInterval ?? RUN_POLL_INTERVAL
    );
    this._client = options.client;
    this.project = options.project;
    this.experiment = options.experiment;
  }

  readonly project: string;
  readonly experiment: number;

  /**
   * Read the run now (e.g. after a refresh click); polling goes on if it
   * still runs.
   */
  async reload(): Promise<void> {
    await this._read();
  }

  /**
   * Sort by `column`; the same column again reverses the order. The metric
   * sorts best first at first.
   */
  sortBy(column: string): void {
    const current = this.state.sort;
    const descending =
      current.column === column
        ? !current.descending
        : column === 'metric' && this.state.experiment?.direction !== 'min';
    this.setState({ ...this.state, sort: { column, descending } });
  }

  /**
   * Open or close a trial's details.
   */
  toggle(trial: string): void {
    const expanded = this.state.expanded.includes(trial)
      ? this.state.expanded.filter(t => t !== trial)
      : [...this.state.expanded, trial];
    this.setState({ ...this.state, expanded });
  }

  /**
   * Read the run: again while it runs, later after a failure.
   */
  protected async round(): Promise<RoundResult> {
    const ok = await this._read();
    if (this.state.done) {
      return 'stop';
    }
    return ok ? 'again' : 'retry';
  }

  private async _read(): Promise<boolean> {
    try {
      const experiment = await unwrap(
        this._client.GET('/api/projects/{project}/experiments/{experiment}', {
          params: {
            path: { project: this.project, experiment: this.experiment }
          }
        })
      );
      if (this.isDisposed) {
        return false;
      }
      this.setState({
        ...this.state,
        experiment,
        error: null,
        done: experiment.state !== 'RUNNING'
      });
      return true;
    } catch (error) {
      if (this.isDisposed) {
        return false;
      }
      this.setState({
        ...this.state,
        error: describeError(error),
        done: isFinalError(error)
      });
      return false;
    }
  }

  private _client: ApiClient;
}

/**
 * The namespace for {@link ExperimentRunModel} statics.
 */
export namespace ExperimentRunModel {
  export interface IOptions {
    client: ApiClient;
    project: string;
    /**
     * The run's id.
     */
    experiment: number;
    /**
     * How often (ms) to read while the run runs.
     */
    pollInterval?: number;
  }
}

/**
 * A run's view: its summary, the metric charts and the trials table.
 */
export class ExperimentRunContent extends FollowingView<ExperimentRunModel> {
  constructor(
    model: ExperimentRunModel,
    openTensorBoard: ExperimentsPanel.OpenTensorBoard,
    translator?: ITranslator
  ) {
    super(model);
    this._openTensorBoard = openTensorBoard;
    this._trans = (translator ?? nullTranslator).load('hopsworks_lab');
    this.addClass('hwl-experiment-view');
    this.node.dataset.project = model.project;
    this.node.dataset.experiment = String(model.experiment);
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <ExperimentRunView
            model={this.model}
            state={this.model.state}
            openTensorBoard={this._openTensorBoard}
            trans={this._trans}
          />
        )}
      </UseSignal>
    );
  }

  private _openTensorBoard: ExperimentsPanel.OpenTensorBoard;
  private _trans: TranslationBundle;
}

function ExperimentRunView(props: {
  model: ExperimentRunModel;
  state: IExperimentRunState;
  openTensorBoard: ExperimentsPanel.OpenTensorBoard;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, state, openTensorBoard, trans } = props;
  const experiment = state.experiment;
  if (experiment === null) {
    return (
      <div className="hwl-experiment-view-body" data-done="false">
        {state.error ? (
          <p className="hwl-error" role="alert">
            {state.error}
          </p>
        ) : (
          <p className="hwl-loading" role="status">
            {trans.__('Loading…')}
          </p>
        )}
      </div>
    );
  }
  const metric = experiment.optimization_key ?? trans.__('metric');
  const seconds = experimentSeconds(experiment);
  const columns = trialColumns(experiment, trans);
  const trials = sortTrials(experiment.trials, columns, state.sort);
  return (
    <div
      className="hwl-experiment-view-body"
      data-state={experiment.state}
      data-done={state.done ? 'true' : 'false'}
    >
      <div className="hwl-experiment-view-header">
        <span className="hwl-experiment-view-title">{experiment.run}</span>
        <span className="hwl-badge hwl-experiment-kind">{experiment.kind}</span>
        <StateBadge state={experiment.state} />
        <span
          className="hwl-experiment-view-started"
          title={Time.format(experiment.created_at)}
        >
          {trans.__(
            'started %1 by %2',
            Time.formatHuman(experiment.created_at),
            experiment.user
          )}
        </span>
        {seconds !== null && (
          <span className="hwl-experiment-view-duration">
            {formatSeconds(seconds)}
          </span>
        )}
        {!state.done && (
          <span className="hwl-experiment-view-following" role="status">
            {trans.__('following…')}
          </span>
        )}
        <Button
          className="hwl-experiment-view-tensorboard"
          small
          aria-label={trans.__('Open TensorBoard for %1', experiment.run)}
          onClick={() => openTensorBoard(model.project, experiment.run)}
        >
          <launchIcon.react tag="span" className="hwl-button-icon" />
          {trans.__('Open TensorBoard')}
        </Button>
      </div>
      {experiment.description && (
        <p className="hwl-experiment-view-description">
          {experiment.description}
        </p>
      )}
      <p className="hwl-experiment-view-summary">
        <span className="hwl-experiment-view-best">
          {experiment.best_metric !== null &&
          experiment.best_metric !== undefined
            ? trans.__(
                'best %1 %2 (%3)',
                metric,
                formatMetric(experiment.best_metric),
                experiment.best_trial ?? '?'
              )
            : trans.__('no best trial yet')}
          {experiment.direction
            ? ` · ${experiment.direction === 'min' ? trans.__('lower is better') : trans.__('higher is better')}`
            : ''}
        </span>
        {' · '}
        <span className="hwl-experiment-view-counts">
          {trialCounts(experiment, trans)}
        </span>
      </p>
      {experiment.error && (
        <pre className="hwl-error hwl-experiment-view-error" role="alert">
          {experiment.error}
        </pre>
      )}
      {state.error && (
        <p className="hwl-error hwl-experiment-view-read-error" role="alert">
          {state.error}
        </p>
      )}
      {Object.keys(experiment.space ?? {}).length > 0 && (
        <details className="hwl-experiment-view-space">
          <summary>{trans.__('Search space')}</summary>
          <pre>{JSON.stringify(experiment.space, null, 2)}</pre>
        </details>
      )}
      <div className="hwl-experiment-charts">
        <MetricChart
          trials={experiment.trials}
          metric={metric}
          direction={experiment.direction}
          bestTrial={experiment.best_trial}
          trans={trans}
        />
        <HistoryChart
          trials={experiment.trials}
          metric={metric}
          bestTrial={experiment.best_trial}
          trans={trans}
        />
        <ChartLegend trans={trans} />
      </div>
      {experiment.trials.length === 0 ? (
        <p className="hwl-empty">{trans.__('No trials yet.')}</p>
      ) : (
        <TrialsTable
          model={model}
          columns={columns}
          trials={trials}
          sort={state.sort}
          expanded={state.expanded}
          bestTrial={experiment.best_trial}
          trans={trans}
        />
      )}
    </div>
  );
}

function ChartLegend(props: { trans: TranslationBundle }): JSX.Element {
  const { trans } = props;
  const states: [string, string][] = [
    ['finished', trans.__('finished')],
    ['running', trans.__('running')],
    ['early-stopped', trans.__('early-stopped')],
    ['failed', trans.__('failed')]
  ];
  return (
    <ul className="hwl-chart-legend">
      {states.map(([key, label]) => (
        <li key={key}>
          <span className={`hwl-chart-swatch hwl-chart-${key}`} />
          {label}
        </li>
      ))}
      <li>
        <span className="hwl-chart-swatch hwl-chart-best-swatch" />
        {trans.__('best so far')}
      </li>
    </ul>
  );
}

function TrialsTable(props: {
  model: ExperimentRunModel;
  columns: ITrialColumn[];
  trials: Trial[];
  sort: ITrialSort;
  expanded: readonly string[];
  bestTrial: string | null | undefined;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, columns, trials, sort, expanded, bestTrial, trans } = props;
  return (
    <table className="hwl-trials">
      <thead>
        <tr>
          {columns.map(column => (
            <th
              key={column.key}
              data-column={column.key}
              aria-sort={
                sort.column === column.key
                  ? sort.descending
                    ? 'descending'
                    : 'ascending'
                  : 'none'
              }
            >
              <button
                className="hwl-trials-sort"
                title={trans.__('Sort by %1', column.label)}
                onClick={() => model.sortBy(column.key)}
              >
                {column.label}
                {sort.column === column.key
                  ? sort.descending
                    ? ' ▼'
                    : ' ▲'
                  : ''}
              </button>
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {trials.map(trial => (
          <TrialRows
            key={trial.trial}
            model={model}
            trial={trial}
            columns={columns}
            open={expanded.includes(trial.trial)}
            best={trial.trial === bestTrial}
            trans={trans}
          />
        ))}
      </tbody>
    </table>
  );
}

function TrialRows(props: {
  model: ExperimentRunModel;
  trial: Trial;
  columns: ITrialColumn[];
  open: boolean;
  best: boolean;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trial, columns, open, best, trans } = props;
  const early = trial.state === 'EARLY_STOPPED';
  const extra = Object.entries(trial.metrics ?? {});
  const outputs = trial.outputs ?? [];
  const hasDetails = !!trial.error || extra.length > 0 || outputs.length > 0;
  return (
    <>
      <tr
        className={
          'hwl-trial' +
          (best ? ' hwl-trial-best' : '') +
          (early ? ' hwl-trial-early-stopped' : '')
        }
        data-trial={trial.trial}
        data-state={trial.state}
        data-best={best ? 'true' : 'false'}
      >
        {columns.map(column => (
          <td key={column.key} data-column={column.key}>
            {column.key === 'trial' ? (
              <span className="hwl-trial-name">
                {hasDetails ? (
                  <button
                    className="hwl-trial-toggle"
                    aria-expanded={open}
                    aria-label={
                      trial.error
                        ? trans.__('Traceback of %1', trial.trial)
                        : trans.__('Details of %1', trial.trial)
                    }
                    onClick={() => model.toggle(trial.trial)}
                  >
                    {open ? (
                      <caretDownIcon.react tag="span" />
                    ) : (
                      <caretRightIcon.react tag="span" />
                    )}
                  </button>
                ) : (
                  <span className="hwl-trial-toggle-space" />
                )}
                {trial.trial}
                {best && (
                  <span
                    className="hwl-badge hwl-trial-best-badge"
                    title={trans.__('The best trial of the run')}
                  >
                    {trans.__('best')}
                  </span>
                )}
              </span>
            ) : column.key === 'state' ? (
              <StateBadge
                state={trial.state}
                title={
                  early
                    ? trans.__(
                        'Stopped early: its intermediate metric was worse than the median of the other trials at the same step'
                      )
                    : undefined
                }
              />
            ) : (
              column.text(trial)
            )}
          </td>
        ))}
      </tr>
      {open && hasDetails && (
        <tr className="hwl-trial-details" data-trial={trial.trial}>
          <td colSpan={columns.length}>
            {trial.error && (
              <pre
                className="hwl-trial-traceback"
                aria-label={trans.__('Traceback of %1', trial.trial)}
              >
                {trial.error}
              </pre>
            )}
            {extra.length > 0 && (
              <dl className="hwl-trial-metrics">
                {extra.map(([name, value]) => (
                  <React.Fragment key={name}>
                    <dt>{name}</dt>
                    <dd>{paramText(value)}</dd>
                  </React.Fragment>
                ))}
              </dl>
            )}
            {outputs.length > 0 && (
              <p className="hwl-trial-outputs">
                {trans.__('Files: %1', outputs.join(', '))}
              </p>
            )}
          </td>
        </tr>
      )}
    </>
  );
}

/**
 * A run's view in the main area.
 */
export class ExperimentRunWidget extends MainAreaWidget<ExperimentRunContent> {
  constructor(
    model: ExperimentRunModel,
    run: string,
    openTensorBoard: ExperimentsPanel.OpenTensorBoard,
    translator?: ITranslator
  ) {
    const trans = (translator ?? nullTranslator).load('hopsworks_lab');
    super({
      content: new ExperimentRunContent(model, openTensorBoard, translator)
    });
    this.id = experimentViewId(model.project, model.experiment);
    this.title.label = run;
    this.title.caption = trans.__(
      'Trials of run %1 (project %2)',
      run,
      model.project
    );
    this.title.closable = true;
    this.addClass('hwl-experiment-widget');
  }
}

/**
 * The DOM id of a run's view.
 */
export function experimentViewId(project: string, experiment: number): string {
  return `hwl-experiment-${project}-${experiment}`;
}

/**
 * The options of {@link openExperiment}.
 */
export interface IOpenExperimentOptions {
  client: ApiClient;
  project: string;
  experiment: number;
  /**
   * The run's folder name (the tab's title until the run is read).
   */
  run: string;
  openTensorBoard: ExperimentsPanel.OpenTensorBoard;
  translator?: ITranslator;
  pollInterval?: number;
}

/**
 * Show a run's view in the main area (the one already open, if any) and
 * start reading it.
 */
export function openExperiment(
  app: JupyterFrontEnd,
  options: IOpenExperimentOptions
): ExperimentRunWidget {
  return openFollowingView(
    app,
    OPEN,
    experimentViewId(options.project, options.experiment),
    () =>
      new ExperimentRunWidget(
        new ExperimentRunModel(options),
        options.run,
        options.openTensorBoard,
        options.translator
      ),
    open => void open.content.model.reload()
  );
}

/**
 * The run views open, by DOM id.
 */
const OPEN = new Map<string, ExperimentRunWidget>();
