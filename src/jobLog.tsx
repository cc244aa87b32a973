import type { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Time } from '@jupyterlab/coreutils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { Button, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Schemas } from './api';
import type { ApiClient } from './client';
import { unwrap } from './client';
import { describeError, notifyError } from './feedback';
import { executionDuration } from './jobs';
import {
  FollowingModel,
  FollowingView,
  isFinalError,
  openFollowingView,
  RoundResult
} from './polling';

export type Execution = Schemas['Execution'];
export type LogStream = 'stdout' | 'stderr';

const STREAMS: readonly LogStream[] = ['stdout', 'stderr'];

/**
 * How often (ms) a running execution's logs are read.
 */
export const LOG_POLL_INTERVAL = 1000;

/**
 * How much of a log the page keeps (characters): the start of a huge log
 * is dropped rather than the browser slowed down.
 */
const LOG_KEEP = 2 << 20;

/**
 * One stream of an execution's log as read so far.
 */
export interface IStreamLog {
  text: string;
  /**
   * Where the next read starts (bytes).
   */
  offset: number;
  /**
   * The log's size when last read (bytes).
   */
  size: number;
  /**
   * The execution ended and the log was read to its end.
   */
  complete: boolean;
  /**
   * The start of the log was dropped from the page.
   */
  truncated: boolean;
}

/**
 * What the log viewer shows.
 */
export interface IJobLogState {
  execution: Execution | null;
  stdout: IStreamLog;
  stderr: IStreamLog;
  /**
   * The stream on display.
   */
  stream: LogStream;
  /**
   * Why the latest read failed.
   */
  error: string | null;
  /**
   * Nothing more will come: both logs are complete, or they cannot be
   * read (gone, refused).
   */
  done: boolean;
}

function emptyStream(): IStreamLog {
  return { text: '', offset: 0, size: 0, complete: false, truncated: false };
}

/**
 * Follows an execution's stdout and stderr from the offsets the server
 * gives until it says they are complete (the execution ended), then reads
 * the execution's final state. Stops when disposed.
 */
export class JobLogModel extends FollowingModel<IJobLogState> {
  constructor(options: JobLogModel.IOptions) {
    super(
      {
        execution: null,
        stdout: emptyStream(),
        stderr: emptyStream(),
        stream: 'stdout',
        error: null,
        done: false
      },
      options.pollInterval ?? LOG_POLL_INTERVAL
    );
    this.project = options.project;
    this.job = options.job;
    this.execution = options.execution;
    this._client = options.client;
  }

  readonly project: string;
  readonly job: string;
  readonly execution: number;

  /**
   * Show `stream`.
   */
  setStream(stream: LogStream): void {
    this.setState({ ...this.state, stream });
  }

  /**
   * One round: what is new in each stream, the execution's state now and
   * then (and once more at the end), then the next round.
   */
  protected async round(): Promise<RoundResult> {
    try {
      for (const stream of STREAMS) {
        await this._read(stream);
      }
      const ended = STREAMS.every(s => this.state[s].complete);
      if (ended || this._rounds % 5 === 0) {
        await this._readExecution();
      }
      this._rounds++;
      if (this.state.error !== null && !this.isDisposed) {
        this.setState({ ...this.state, error: null });
      }
      if (ended) {
        this.setState({ ...this.state, done: true });
        return 'stop';
      }
      return 'again';
    } catch (error) {
      if (this.isDisposed) {
        return 'stop';
      }
      const message = describeError(error);
      if (message !== this.state.error) {
        notifyError(message);
      }
      const final = isFinalError(error);
      this.setState({ ...this.state, error: message, done: final });
      return final ? 'stop' : 'retry';
    }
  }

  /**
   * Read `stream` from its offset until the server has nothing more now.
   */
  private async _read(stream: LogStream): Promise<void> {
    for (let round = 0; round < 16; round++) {
      const log = this.state[stream];
      if (log.complete || this.isDisposed) {
        return;
      }
      const chunk = await unwrap(
        this._client.GET(
          '/api/projects/{project}/jobs/{job}/executions/{execution}/logs/{stream}',
          {
            params: {
              path: {
                project: this.project,
                job: this.job,
                execution: this.execution,
                stream
              },
              query: { offset: log.offset }
            }
          }
        )
      );
      if (this.isDisposed) {
        return;
      }
      let text = log.text + chunk.text;
      let truncated = log.truncated;
      if (text.length > LOG_KEEP) {
        text = text.slice(text.length - LOG_KEEP);
        truncated = true;
      }
      this.setState({
        ...this.state,
        [stream]: {
          text,
          offset: chunk.next_offset,
          size: chunk.size,
          complete: chunk.complete,
          truncated
        }
      });
      if (
        chunk.complete ||
        chunk.text === '' ||
        chunk.next_offset >= chunk.size
      ) {
        return;
      }
    }
  }

  private async _readExecution(): Promise<void> {
    const execution = await unwrap(
      this._client.GET(
        '/api/projects/{project}/jobs/{job}/executions/{execution}',
        {
          params: {
            path: {
              project: this.project,
              job: this.job,
              execution: this.execution
            }
          }
        }
      )
    );
    if (!this.isDisposed) {
      this.setState({ ...this.state, execution });
    }
  }

  private _client: ApiClient;
  private _rounds = 0;
}

/**
 * The namespace for {@link JobLogModel} statics.
 */
export namespace JobLogModel {
  export interface IOptions {
    client: ApiClient;
    project: string;
    job: string;
    execution: number;
    /**
     * How often (ms) to read while the execution runs.
     */
    pollInterval?: number;
  }
}

/**
 * The log viewer's content: the execution's state and one stream's text.
 */
export class JobLogContent extends FollowingView<JobLogModel> {
  constructor(model: JobLogModel, translator?: ITranslator) {
    super(model);
    this._trans = (translator ?? nullTranslator).load('hopsworks_lab');
    this.addClass('hwl-job-log');
    this.node.dataset.project = model.project;
    this.node.dataset.job = model.job;
    this.node.dataset.execution = String(model.execution);
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <JobLogView
            model={this.model}
            state={this.model.state}
            trans={this._trans}
          />
        )}
      </UseSignal>
    );
  }

  private _trans: TranslationBundle;
}

function JobLogView(props: {
  model: JobLogModel;
  state: IJobLogState;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, state, trans } = props;
  const { execution } = state;
  const log = state[state.stream];
  const pre = React.useRef<HTMLPreElement>(null);
  const stick = React.useRef(true);
  React.useLayoutEffect(() => {
    // Follow the end of the log unless the user scrolled up to read.
    if (pre.current && stick.current) {
      pre.current.scrollTop = pre.current.scrollHeight;
    }
  }, [log.text, state.stream]);
  const duration = execution ? executionDuration(execution) : null;
  return (
    <div
      className="hwl-job-log-body"
      data-state={execution?.state ?? ''}
      data-done={state.done ? 'true' : 'false'}
    >
      <div className="hwl-job-log-header">
        <span className="hwl-job-log-title">
          {trans.__('%1 #%2', model.job, model.execution)}
        </span>
        {execution && (
          <span
            className={`hwl-badge hwl-status hwl-status-${execution.state.toLowerCase()}`}
            data-state={execution.state}
          >
            {execution.state}
          </span>
        )}
        {execution?.exit_code !== null &&
          execution?.exit_code !== undefined && (
            <span className="hwl-job-log-exit">
              {trans.__('exit code %1', execution.exit_code)}
            </span>
          )}
        {execution?.started_at && (
          <span
            className="hwl-job-log-started"
            title={Time.format(execution.started_at)}
          >
            {trans.__('started %1', Time.formatHuman(execution.started_at))}
          </span>
        )}
        {duration && <span className="hwl-job-log-duration">{duration}</span>}
        {!state.done && (
          <span className="hwl-job-log-following" role="status">
            {trans.__('following…')}
          </span>
        )}
        <span className="hwl-job-log-streams" role="group">
          {STREAMS.map(stream => (
            <Button
              key={stream}
              className="hwl-job-log-stream"
              small
              minimal={state.stream !== stream}
              aria-pressed={state.stream === stream}
              data-stream={stream}
              onClick={() => model.setStream(stream)}
            >
              {stream === 'stdout'
                ? trans.__('stdout (%1 B)', state.stdout.size)
                : trans.__('stderr (%1 B)', state.stderr.size)}
            </Button>
          ))}
        </span>
      </div>
      {execution?.reason && (
        <p className="hwl-job-log-reason">{execution.reason}</p>
      )}
      {state.error && (
        <p className="hwl-error hwl-job-log-error" role="alert">
          {state.error}
        </p>
      )}
      <pre
        ref={pre}
        className="hwl-job-log-text"
        data-stream={state.stream}
        data-complete={log.complete ? 'true' : 'false'}
        aria-label={trans.__(
          '%1 of execution %2',
          state.stream,
          model.execution
        )}
        tabIndex={0}
        onScroll={event => {
          const node = event.currentTarget;
          stick.current =
            node.scrollTop + node.clientHeight >= node.scrollHeight - 8;
        }}
      >
        {log.truncated ? trans.__('[earlier output not shown]\n') : ''}
        {log.text}
      </pre>
    </div>
  );
}

/**
 * The log viewer in the main area.
 */
export class JobLogWidget extends MainAreaWidget<JobLogContent> {
  constructor(model: JobLogModel, translator?: ITranslator) {
    const trans = (translator ?? nullTranslator).load('hopsworks_lab');
    super({ content: new JobLogContent(model, translator) });
    this.id = jobLogId(model.project, model.job, model.execution);
    this.title.label = trans.__('%1 #%2', model.job, model.execution);
    this.title.caption = trans.__(
      'Logs of execution %1 of job %2 (project %3)',
      model.execution,
      model.job,
      model.project
    );
    this.title.closable = true;
    this.addClass('hwl-job-log-widget');
  }
}

/**
 * The DOM id of the log viewer of one execution.
 */
export function jobLogId(project: string, job: string, execution: number) {
  return `hwl-job-log-${project}-${job}-${execution}`;
}

/**
 * The options of {@link openJobLog}.
 */
export interface IOpenJobLogOptions {
  client: ApiClient;
  project: string;
  job: string;
  execution: number;
  translator?: ITranslator;
}

/**
 * Show the log viewer of an execution in the main area (the one already
 * open, if any) and start following it.
 */
export function openJobLog(
  app: JupyterFrontEnd,
  options: IOpenJobLogOptions
): JobLogWidget {
  return openFollowingView(
    app,
    OPEN,
    jobLogId(options.project, options.job, options.execution),
    () => new JobLogWidget(new JobLogModel(options), options.translator)
  );
}

/**
 * The log viewers open, by DOM id.
 */
const OPEN = new Map<string, JobLogWidget>();
