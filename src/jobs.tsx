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
  addIcon,
  Button,
  caretDownIcon,
  caretRightIcon,
  deleteIcon,
  editIcon,
  runIcon,
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

export type Job = Schemas['Job'];
export type Execution = Schemas['Execution'];
export type ExecutionState = Schemas['ExecutionState'];

/**
 * How often (ms) the section polls while an execution runs.
 */
export const JOBS_POLL_INTERVAL = 2000;

/**
 * Executions of a job listed at a time ("Load more" for older ones).
 */
export const HISTORY_PAGE = 10;

/**
 * Whether an execution is still going (it can be stopped; its logs grow).
 */
export function isLive(state: ExecutionState): boolean {
  return state === 'INITIALIZING' || state === 'RUNNING';
}

/**
 * A duration in words: 45 s, 3 min 5 s, 2 h 3 min.
 */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) {
    return `${seconds} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${seconds % 60} s`;
  }
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

/**
 * How long an execution ran (or has been running), once it started.
 */
export function executionDuration(
  execution: Execution,
  now: number = Date.now()
): string | null {
  if (!execution.started_at) {
    return null;
  }
  const end = execution.finished_at
    ? new Date(execution.finished_at).getTime()
    : now;
  return formatDuration(end - new Date(execution.started_at).getTime());
}

/**
 * The program a job runs.
 */
export function jobProgram(job: Job): string {
  return job.config.app_path;
}

/**
 * The executions shown for a job whose history is open.
 */
export interface IJobHistory {
  items: Execution[];
  /**
   * The job's executions in all.
   */
  total: number;
  /**
   * How many are asked for.
   */
  limit: number;
}

/**
 * What the Jobs section shows.
 */
export interface IJobsState extends ISectionState {
  /**
   * The jobs, each with its latest execution (`last_execution`).
   */
  jobs: Job[] | null;
  /**
   * The open histories, by job name.
   */
  history: Record<string, IJobHistory>;
  /**
   * How many jobs are listed.
   */
  shown: number;
}

/**
 * The jobs of the active project with their latest executions and the open
 * histories. While an execution runs (and the section is shown) it reloads
 * every `pollInterval`; it stops when none runs, when hidden or disposed.
 */
export class JobsModel extends SectionModel<IJobsState> {
  constructor(options: JobsModel.IOptions) {
    const pageSize = options.pageSize ?? 100;
    super(
      emptyJobsState(null, pageSize),
      options.pollInterval ?? JOBS_POLL_INTERVAL
    );
    this._client = options.client;
    this._pageSize = pageSize;
  }

  /**
   * Jobs listed at a time.
   */
  set pageSize(value: number) {
    this._pageSize = value;
  }

  /**
   * List more jobs (the list holds them all, with their latest executions).
   */
  showMore(): void {
    this.setState({
      ...this.state,
      shown: this.state.shown + this._pageSize
    });
    this.schedule();
  }

  /**
   * Open or close the execution history of `job`.
   */
  toggleHistory(job: string): Promise<void> {
    const history = { ...this.state.history };
    if (job in history) {
      delete history[job];
      this.setState({ ...this.state, history });
      return Promise.resolve();
    }
    history[job] = { items: [], total: 0, limit: HISTORY_PAGE };
    this.setState({ ...this.state, history });
    return this.reload();
  }

  /**
   * List older executions of `job`.
   */
  moreHistory(job: string): Promise<void> {
    const open = this.state.history[job];
    if (open === undefined) {
      return Promise.resolve();
    }
    this.setState({
      ...this.state,
      history: {
        ...this.state.history,
        [job]: { ...open, limit: open.limit + HISTORY_PAGE }
      }
    });
    return this.reload();
  }

  /**
   * Run `job` with `args`; its history opens. The execution, or null when
   * the server refused.
   */
  async run(job: string, args: string[]): Promise<Execution | null> {
    let started: Execution | null = null;
    await this.sendChange(async project => {
      started = await unwrap(
        this._client.POST('/api/projects/{project}/jobs/{job}/executions', {
          params: { path: { project, job } },
          body: { args }
        })
      );
      if (!(job in this.state.history)) {
        this.setState({
          ...this.state,
          history: {
            ...this.state.history,
            [job]: { items: [], total: 0, limit: HISTORY_PAGE }
          }
        });
      }
    });
    return started;
  }

  /**
   * Stop execution `id` of `job`. True when the server accepted.
   */
  stop(job: string, id: number): Promise<boolean> {
    return this.sendChange(project =>
      unwrap(
        this._client.POST(
          '/api/projects/{project}/jobs/{job}/executions/{execution}/stop',
          { params: { path: { project, job, execution: id } } }
        )
      )
    );
  }

  /**
   * Delete `job` and its history. True when it worked.
   */
  remove(job: string): Promise<boolean> {
    return this.sendChange(project =>
      unwrap(
        this._client.DELETE('/api/projects/{project}/jobs/{job}', {
          params: { path: { project, job } }
        })
      )
    );
  }

  protected empty(project: string | null): IJobsState {
    return emptyJobsState(project, this._pageSize);
  }

  /**
   * The jobs of `project` (each with its latest execution) and the open
   * histories (those of jobs still listed).
   */
  protected async fetch(project: string): Promise<Partial<IJobsState>> {
    const list = await unwrap(
      this._client.GET('/api/projects/{project}/jobs', {
        params: { path: { project } }
      })
    );
    const names = new Set(list.items.map(job => job.name));
    const open = Object.entries(this.state.history).filter(([name]) =>
      names.has(name)
    );
    const histories = await Promise.all(
      open.map(([name, history]) =>
        this._executions(project, name, history.limit)
      )
    );
    const history: Record<string, IJobHistory> = {};
    open.forEach(([name], i) => (history[name] = histories[i]));
    return { jobs: list.items, history };
  }

  /**
   * Whether an execution listed is still going.
   */
  protected needsPolling(): boolean {
    const { jobs, shown, history } = this.state;
    return (
      (jobs ?? [])
        .slice(0, shown)
        .some(
          j => j.last_execution !== null && isLive(j.last_execution.state)
        ) ||
      Object.values(history).some(h => h.items.some(e => isLive(e.state)))
    );
  }

  private async _executions(
    project: string,
    job: string,
    limit: number
  ): Promise<IJobHistory> {
    const list = await unwrap(
      this._client.GET('/api/projects/{project}/jobs/{job}/executions', {
        params: { path: { project, job }, query: { limit } }
      })
    );
    return { items: list.items, total: list.total, limit };
  }

  private _client: ApiClient;
  private _pageSize: number;
}

function emptyJobsState(project: string | null, pageSize: number): IJobsState {
  return {
    project,
    jobs: null,
    history: {},
    shown: pageSize,
    loading: false,
    error: null,
    busy: false
  };
}

/**
 * The namespace for {@link JobsModel} statics.
 */
export namespace JobsModel {
  export interface IOptions {
    client: ApiClient;
    /**
     * How often (ms) to reload while an execution runs.
     */
    pollInterval?: number;
    /**
     * Jobs listed at a time.
     */
    pageSize?: number;
  }
}

/**
 * What the user can do in the Jobs section.
 */
export interface IJobsActions {
  create: () => void;
  run: (job: Job) => void;
  stop: (job: string, execution: number) => void;
  logs: (job: string, execution: number) => void;
  toggleHistory: (job: string) => void;
  moreHistory: (job: string) => void;
  edit: (job: Job) => void;
  schedule: (job: Job) => void;
  remove: (job: string) => void;
  showMore: () => void;
}

/**
 * The props of {@link JobsView}.
 */
export interface IJobsViewProps {
  state: IJobsState;
  /**
   * Members run and stop; only a Data Owner creates, edits, schedules and
   * deletes.
   */
  role: Schemas['Role'] | null;
  actions: IJobsActions;
  translator?: ITranslator;
}

/**
 * The jobs of the active project with their latest execution and schedule;
 * open histories list executions with Stop and Logs.
 */
export function JobsView(props: IJobsViewProps): JSX.Element {
  const { state, actions } = props;
  const trans = (props.translator ?? nullTranslator).load('hopsworks_lab');
  const owner = props.role === 'DATA_OWNER';
  const member = props.role !== null;
  const jobs = state.jobs;
  if (state.project === null) {
    return (
      <div className="hwl-panel-body hwl-jobs">
        <p className="hwl-empty">{trans.__('No active project.')}</p>
      </div>
    );
  }
  return (
    <div className="hwl-panel-body hwl-jobs" data-project={state.project}>
      {owner && (
        <div className="hwl-jobs-toolbar">
          <Button
            className="hwl-job-new"
            small
            disabled={state.busy}
            aria-label={trans.__('New job')}
            title={trans.__('Create a job from a program in a dataset')}
            onClick={actions.create}
          >
            <addIcon.react tag="span" className="hwl-button-icon" />
            {trans.__('New job')}
          </Button>
        </div>
      )}
      {state.loading && jobs === null && (
        <div className="hwl-loading" role="status">
          {trans.__('Loading…')}
        </div>
      )}
      {state.error && (
        <div className="hwl-error" role="alert">
          <p className="hwl-error-message">{state.error}</p>
        </div>
      )}
      {jobs && jobs.length === 0 && (
        <p className="hwl-empty">{trans.__('No jobs yet.')}</p>
      )}
      {jobs && jobs.length > 0 && (
        <ul
          className="hwl-job-list"
          aria-label={trans.__('Jobs of %1', state.project)}
        >
          {jobs.slice(0, state.shown).map(job => (
            <JobRow
              key={job.name}
              job={job}
              history={state.history[job.name] ?? null}
              owner={owner}
              member={member}
              busy={state.busy}
              actions={actions}
              trans={trans}
            />
          ))}
        </ul>
      )}
      {jobs && jobs.length > state.shown && (
        <Button
          className="hwl-job-more"
          minimal
          small
          onClick={actions.showMore}
        >
          {trans.__('Show more (%1 of %2 shown)', state.shown, jobs.length)}
        </Button>
      )}
    </div>
  );
}

function JobRow(props: {
  job: Job;
  history: IJobHistory | null;
  owner: boolean;
  member: boolean;
  busy: boolean;
  actions: IJobsActions;
  trans: TranslationBundle;
}): JSX.Element {
  const { job, history, owner, member, busy, actions, trans } = props;
  const name = job.name;
  const last = job.last_execution;
  const schedule = job.schedule;
  return (
    <li
      className="hwl-job"
      data-job={name}
      data-type={job.type}
      data-state={last?.state ?? ''}
    >
      <div className="hwl-job-header">
        <span className="hwl-job-name">{name}</span>
        <span className="hwl-badge hwl-job-type">{job.type}</span>
        {last ? (
          <span
            className={`hwl-badge hwl-status hwl-status-${last.state.toLowerCase()}`}
            title={trans.__('Latest run: #%1', last.id)}
          >
            {last.state}
          </span>
        ) : (
          <span className="hwl-job-never">{trans.__('never run')}</span>
        )}
      </div>
      <div className="hwl-job-program" title={jobProgram(job)}>
        {jobProgram(job)}
      </div>
      {schedule && (
        <div
          className="hwl-job-schedule"
          data-enabled={schedule.enabled ? 'true' : 'false'}
        >
          <code className="hwl-job-cron">{schedule.cron}</code>
          <span> {trans.__('UTC')}</span>
          {job.next_fire_at ? (
            <span
              className="hwl-job-next"
              title={Time.format(job.next_fire_at)}
            >
              {' · '}
              {trans.__('next %1', Time.formatHuman(job.next_fire_at))}
            </span>
          ) : (
            <span className="hwl-job-next">
              {' · '}
              {schedule.enabled ? trans.__('no next run') : trans.__('paused')}
            </span>
          )}
        </div>
      )}
      <div className="hwl-job-actions">
        {member && (
          <Button
            className="hwl-job-run"
            minimal
            small
            disabled={busy}
            aria-label={trans.__('Run %1', name)}
            title={trans.__('Run %1 now', name)}
            onClick={() => actions.run(job)}
          >
            <runIcon.react tag="span" className="hwl-button-icon" />
            {trans.__('Run')}
          </Button>
        )}
        <Button
          className="hwl-job-history-toggle"
          minimal
          small
          aria-label={trans.__('Executions of %1', name)}
          aria-expanded={history !== null}
          onClick={() => actions.toggleHistory(name)}
        >
          {history !== null ? (
            <caretDownIcon.react tag="span" className="hwl-button-icon" />
          ) : (
            <caretRightIcon.react tag="span" className="hwl-button-icon" />
          )}
          {trans.__('History')}
        </Button>
        {owner && (
          <>
            <Button
              className="hwl-job-schedule-edit"
              minimal
              small
              disabled={busy}
              aria-label={trans.__('Schedule %1', name)}
              title={trans.__('Schedule %1', name)}
              onClick={() => actions.schedule(job)}
            >
              {trans.__('Schedule')}
            </Button>
            <Button
              className="hwl-job-edit"
              minimal
              small
              disabled={busy}
              aria-label={trans.__('Edit %1', name)}
              title={trans.__('Edit the settings of %1', name)}
              onClick={() => actions.edit(job)}
            >
              <editIcon.react tag="span" className="hwl-button-icon" />
            </Button>
            <Button
              className="hwl-job-delete"
              minimal
              small
              disabled={busy}
              aria-label={trans.__('Delete %1', name)}
              title={trans.__('Delete %1', name)}
              onClick={() => actions.remove(name)}
            >
              <deleteIcon.react tag="span" className="hwl-button-icon" />
            </Button>
          </>
        )}
      </div>
      {history !== null && (
        <ExecutionList
          job={name}
          history={history}
          member={member}
          busy={busy}
          actions={actions}
          trans={trans}
        />
      )}
    </li>
  );
}

function ExecutionList(props: {
  job: string;
  history: IJobHistory;
  member: boolean;
  busy: boolean;
  actions: IJobsActions;
  trans: TranslationBundle;
}): JSX.Element {
  const { job, history, member, busy, actions, trans } = props;
  return (
    <div className="hwl-executions">
      {history.items.length === 0 ? (
        <p className="hwl-empty">{trans.__('No executions.')}</p>
      ) : (
        <ul
          className="hwl-execution-list"
          aria-label={trans.__('Executions of %1', job)}
        >
          {history.items.map(execution => (
            <ExecutionRow
              key={execution.id}
              job={job}
              execution={execution}
              member={member}
              busy={busy}
              actions={actions}
              trans={trans}
            />
          ))}
        </ul>
      )}
      {history.total > history.items.length && (
        <Button
          className="hwl-execution-more"
          minimal
          small
          onClick={() => actions.moreHistory(job)}
        >
          {trans.__(
            'Load more (%1 of %2)',
            history.items.length,
            history.total
          )}
        </Button>
      )}
    </div>
  );
}

function ExecutionRow(props: {
  job: string;
  execution: Execution;
  member: boolean;
  busy: boolean;
  actions: IJobsActions;
  trans: TranslationBundle;
}): JSX.Element {
  const { job, execution, member, busy, actions, trans } = props;
  const id = execution.id;
  const duration = executionDuration(execution);
  const started = execution.started_at ?? execution.created_at;
  return (
    <li
      className="hwl-execution"
      data-execution={id}
      data-state={execution.state}
    >
      <div className="hwl-execution-header">
        <span className="hwl-execution-id">#{id}</span>
        <span
          className={`hwl-badge hwl-status hwl-status-${execution.state.toLowerCase()}`}
        >
          {execution.state}
        </span>
        {execution.exit_code !== null && (
          <span className="hwl-execution-exit">
            {trans.__('exit %1', execution.exit_code)}
          </span>
        )}
        <span className="hwl-execution-start" title={Time.format(started)}>
          {Time.formatHuman(started)}
        </span>
        {duration && <span className="hwl-execution-duration">{duration}</span>}
        {execution.trigger === 'schedule' && (
          <span
            className="hwl-execution-trigger"
            title={
              execution.scheduled_for
                ? trans.__(
                    'Scheduled for %1',
                    Time.format(execution.scheduled_for)
                  )
                : undefined
            }
          >
            {trans.__('scheduled')}
          </span>
        )}
      </div>
      <div className="hwl-execution-meta">
        <span className="hwl-execution-by">{execution.submitted_by}</span>
        {execution.args.length > 0 && (
          <code className="hwl-execution-args">{execution.args.join(' ')}</code>
        )}
        <span className="hwl-execution-actions">
          {member && isLive(execution.state) && (
            <Button
              className="hwl-execution-stop"
              minimal
              small
              disabled={busy}
              aria-label={trans.__('Stop execution %1', id)}
              title={trans.__('Stop execution %1', id)}
              onClick={() => actions.stop(job, id)}
            >
              <stopIcon.react tag="span" className="hwl-button-icon" />
              {trans.__('Stop')}
            </Button>
          )}
          <Button
            className="hwl-execution-logs"
            minimal
            small
            aria-label={trans.__('Logs of execution %1', id)}
            title={trans.__('Show the logs of execution %1', id)}
            onClick={() => actions.logs(job, id)}
          >
            {trans.__('Logs')}
          </Button>
        </span>
      </div>
      {execution.reason && (
        <p
          className={
            execution.state === 'FAILED'
              ? 'hwl-execution-reason hwl-error-message'
              : 'hwl-execution-reason'
          }
        >
          {execution.reason}
        </p>
      )}
    </li>
  );
}

/**
 * The Jobs section of the sidebar.
 */
export class JobsPanel extends ActiveSectionWidget<JobsModel> {
  constructor(options: JobsPanel.IOptions) {
    const translator = options.translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');
    super(trans.__('Jobs'), 'hwl-jobs-section', options.sidebar);
    this._translator = translator;
    this._trans = trans;
    this._openLog = options.openLog;
    this.model = new JobsModel({
      client: options.sidebar.client,
      pollInterval: options.pollInterval,
      pageSize: options.sidebar.preferences.pageSize
    });
    this.sidebar.refreshRequested.connect(this._onRefreshRequested, this);
    // The user's role comes from the sidebar's model.
    this.sidebar.model.stateChanged.connect(this._onSidebarState, this);
    if (this.sidebar.model.projects.activeProject !== null) {
      void this.refresh();
    }
  }

  readonly model: JobsModel;

  /**
   * Reload the active project's jobs.
   */
  refresh(): Promise<void> {
    this.model.pageSize = this.sidebar.preferences.pageSize;
    return this.model.load(this.sidebar.model.projects.activeProject);
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <JobsView
            state={this.model.state}
            role={this.sidebar.model.role}
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

  private _onSidebarState(): void {
    this.update();
  }

  /**
   * The job dialog: a new job without `job`, else that job's edit.
   */
  private async _openJobDialog(job?: Job): Promise<void> {
    const project = this.model.state.project;
    if (project === null) {
      return;
    }
    const { showJobDialog } = await import('./jobDialogs');
    const saved = await showJobDialog({
      client: this.sidebar.client,
      project,
      job,
      translator: this._translator
    });
    if (saved !== null) {
      await this.model.reload();
    }
  }

  private async _schedule(job: Job): Promise<void> {
    const project = this.model.state.project;
    if (project === null) {
      return;
    }
    const { showScheduleDialog } = await import('./jobDialogs');
    const changed = await showScheduleDialog({
      client: this.sidebar.client,
      project,
      job,
      translator: this._translator
    });
    if (changed) {
      await this.model.reload();
    }
  }

  private async _run(job: Job): Promise<void> {
    const { promptRunArguments } = await import('./jobDialogs');
    const args = await promptRunArguments(job, this._translator);
    if (args === null) {
      return;
    }
    const execution = await this.model.run(job.name, args);
    if (execution !== null && execution.state === 'FAILED') {
      notifyError(
        this._trans.__(
          'Job %1 could not start: %2',
          job.name,
          execution.reason ?? this._trans.__('no reason given')
        )
      );
    }
  }

  private async _remove(job: string): Promise<void> {
    const trans = this._trans;
    const confirmed = await confirmAction({
      title: trans.__('Delete job %1', job),
      body: trans.__(
        'Delete job %1, its schedule and its execution history? Its logs stay in the Logs dataset.',
        job
      ),
      label: trans.__('Delete'),
      trans
    });
    if (confirmed) {
      await this.model.remove(job);
    }
  }

  private _actions: IJobsActions = {
    create: () => void this._openJobDialog(),
    run: job => void this._run(job),
    stop: (job, execution) => void this.model.stop(job, execution),
    logs: (job, execution) => {
      const project = this.model.state.project;
      if (project !== null) {
        this._openLog(project, job, execution);
      }
    },
    toggleHistory: job => void this.model.toggleHistory(job),
    moreHistory: job => void this.model.moreHistory(job),
    edit: job => void this._openJobDialog(job),
    schedule: job => void this._schedule(job),
    remove: job => void this._remove(job),
    showMore: () => this.model.showMore()
  };

  private _openLog: JobsPanel.OpenLog;
  private _translator: ITranslator;
  private _trans: TranslationBundle;
}

/**
 * The namespace for {@link JobsPanel} statics.
 */
export namespace JobsPanel {
  /**
   * Show the logs of an execution (the plugin opens the main-area viewer).
   */
  export type OpenLog = (
    project: string,
    job: string,
    execution: number
  ) => void;

  export interface IOptions {
    sidebar: IHopsworksSidebar;
    openLog: OpenLog;
    translator?: ITranslator;
    /**
     * How often (ms) to reload while an execution runs.
     */
    pollInterval?: number;
  }
}

/**
 * Adds the Jobs section (rank 600) to the Hopsworks sidebar; an
 * execution's Logs open in the main area.
 */
export const jobsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'hopsworks-lab:jobs',
  description:
    'The Jobs section of the Hopsworks sidebar: jobs with their latest execution and schedule, runs with arguments, execution histories with Stop, live logs in the main area; Data Owners create, edit, schedule and delete jobs.',
  autoStart: true,
  requires: [IHopsworksSidebar],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    sidebar: IHopsworksSidebar,
    translator: ITranslator | null
  ): void => {
    const openLog: JobsPanel.OpenLog = (project, job, execution) => {
      void import('./jobLog').then(({ openJobLog }) =>
        openJobLog(app, {
          client: sidebar.client,
          project,
          job,
          execution,
          translator: translator ?? undefined
        })
      );
    };
    sidebar.addSection(
      new JobsPanel({ sidebar, openLog, translator: translator ?? undefined }),
      600
    );
  }
};
