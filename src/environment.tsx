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
import { Button, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Schemas } from './api';
import type { ApiClient } from './client';
// The frame (index.ts) loads the client at start-up anyway.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { unwrap } from './client';
import { confirmAction, describeError, notifyError } from './feedback';
import { ISectionState, SectionModel } from './polling';
import { ActiveSectionWidget, IHopsworksSidebar } from './sidebar';

export type Environment = Schemas['Environment'];
export type EnvironmentPackage = Schemas['EnvironmentPackage'];
export type EnvironmentOperation = Schemas['EnvironmentOperation'];
export type OperationStatus = Schemas['OperationStatus'];
/**
 * The body of `changeEnvironment`: an install (packages, a requirements file
 * or a wheel) or an uninstall.
 */
export type EnvironmentRequest = Schemas['EnvironmentOperationCreate'];

/**
 * How often (ms) a running operation and its log are polled.
 */
export const POLL_INTERVAL = 1000;

/**
 * How many operations are listed (newest first).
 */
export const OPERATIONS_LIMIT = 25;

/**
 * How much of an operation's log is kept in the page (characters): the
 * start of a huge log is dropped rather than the browser slowed down.
 */
const LOG_KEEP = 1 << 20;

/**
 * Whether an operation is still to finish.
 */
export function isPending(status: OperationStatus): boolean {
  return status === 'QUEUED' || status === 'RUNNING';
}

/**
 * A loose check of one requirement string (`name`, `name==1.2`,
 * `name[extra]>=1,<2`); the server checks it exactly.
 */
const REQUIREMENT =
  /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._,-]+\])?(?:(?:~=|==|!=|<=|>=|<|>)[^\s]+)?$/;

/**
 * What the user asks to install, as entered in the form.
 */
export interface IInstallInput {
  kind: 'packages' | 'requirements' | 'wheel';
  /**
   * Requirement strings separated by white space, or a `<dataset>/<path>`.
   */
  text: string;
}

/**
 * The request for `input`, or why it cannot be sent.
 */
export function installRequest(
  input: IInstallInput,
  trans: TranslationBundle
): { request: EnvironmentRequest } | { problem: string } {
  const text = input.text.trim();
  if (input.kind === 'packages') {
    const packages = text.split(/\s+/).filter(p => p !== '');
    if (packages.length === 0) {
      return { problem: trans.__('Enter one or more requirements.') };
    }
    const bad = packages.find(p => !REQUIREMENT.test(p));
    if (bad !== undefined) {
      return {
        problem: trans.__(
          '“%1” is not a requirement (e.g. requests, requests==2.31, rich>=13,<14).',
          bad
        )
      };
    }
    return { request: { op: 'install', packages } };
  }
  const parts = text.split('/').filter(s => s !== '');
  if (parts.length < 2) {
    return {
      problem: trans.__(
        'Enter the file as <dataset>/<path>, e.g. Resources/requirements.txt.'
      )
    };
  }
  const path = parts.join('/');
  if (input.kind === 'wheel') {
    if (!path.endsWith('.whl')) {
      return { problem: trans.__('A wheel is a .whl file.') };
    }
    return { request: { op: 'install', wheel: path } };
  }
  return { request: { op: 'install', requirements: path } };
}

/**
 * What an operation installs or removes, in a few words.
 */
export function describeOperation(
  op: EnvironmentOperation,
  trans: TranslationBundle
): string {
  const target =
    op.wheel ??
    (op.requirements !== null
      ? trans.__('-r %1', op.requirements)
      : (op.packages ?? []).join(' '));
  return op.op === 'uninstall'
    ? trans.__('uninstall %1', target)
    : trans.__('install %1', target);
}

/**
 * An operation's log as read so far.
 */
export interface IOperationLog {
  text: string;
  /**
   * The byte offset the next read starts at.
   */
  offset: number;
  /**
   * The operation has ended and its whole log was read: no more polling.
   */
  complete: boolean;
  /**
   * Why the latest read failed.
   */
  error: string | null;
}

/**
 * What the Environment section shows.
 */
export interface IEnvironmentState extends ISectionState {
  environment: Environment | null;
  /**
   * The latest operations, newest first.
   */
  operations: EnvironmentOperation[] | null;
  /**
   * The logs the user opened, by operation id.
   */
  logs: Record<number, IOperationLog>;
}

const EMPTY: IEnvironmentState = {
  project: null,
  environment: null,
  operations: null,
  loading: false,
  error: null,
  busy: false,
  logs: {}
};

/**
 * The active project's Python environment and the operations that change
 * it. While an operation is queued or running (and the section is shown) it
 * polls the operations and the open logs, which it follows from the offset
 * the server gives; it stops when they end, when hidden or when disposed.
 */
export class EnvironmentModel extends SectionModel<IEnvironmentState> {
  constructor(options: EnvironmentModel.IOptions) {
    super({ ...EMPTY }, options.pollInterval ?? POLL_INTERVAL);
    this._client = options.client;
  }

  /**
   * Reload the environment and operations of `project`; only the latest
   * load's answer is kept. A failure is notified once, not on every
   * periodic refresh that fails the same way. Another project's logs
   * start over, so the decoders of the one left are dropped.
   */
  load(project: string | null): Promise<void> {
    if (project !== this.state.project) {
      this._decoders.clear();
    }
    return super.load(project);
  }

  /**
   * Queue an install or uninstall; its log is opened and followed. True
   * when the server accepted it.
   */
  async change(request: EnvironmentRequest): Promise<boolean> {
    const project = this.state.project;
    if (project === null || this.state.busy) {
      return false;
    }
    this.setState({ ...this.state, busy: true });
    let operation: EnvironmentOperation;
    try {
      operation = await unwrap(
        this._client.POST('/api/projects/{project}/environment/operations', {
          params: { path: { project } },
          body: request
        })
      );
    } catch (error) {
      notifyError(describeError(error));
      if (this.state.project === project) {
        this.setState({ ...this.state, busy: false });
      }
      return false;
    }
    if (this.state.project !== project) {
      return true;
    }
    const others = (this.state.operations ?? []).filter(
      op => op.id !== operation.id
    );
    this.setState({
      ...this.state,
      busy: false,
      operations: [operation, ...others],
      logs: { ...this.state.logs, [operation.id]: emptyLog() }
    });
    await this._readLog(project, operation.id);
    this.schedule();
    return true;
  }

  /**
   * Show or hide an operation's log (read from its start when shown).
   */
  toggleLog(id: number): void {
    const project = this.state.project;
    if (project === null) {
      return;
    }
    const logs = { ...this.state.logs };
    if (id in logs) {
      delete logs[id];
      this._decoders.delete(id);
      this.setState({ ...this.state, logs });
      return;
    }
    logs[id] = emptyLog();
    this.setState({ ...this.state, logs });
    void this._readLog(project, id).then(() => this.schedule());
  }

  protected empty(project: string | null): IEnvironmentState {
    return { ...EMPTY, project };
  }

  protected async fetch(project: string): Promise<Partial<IEnvironmentState>> {
    const [environment, operations] = await Promise.all([
      this._getEnvironment(project),
      this._getOperations(project)
    ]);
    return { environment, operations };
  }

  /**
   * Whether something is still to come: an operation not done, or an open
   * log not read to its end.
   */
  protected needsPolling(): boolean {
    const { environment, operations, logs } = this.state;
    return (
      (environment?.pending ?? 0) > 0 ||
      (operations ?? []).some(op => isPending(op.status)) ||
      Object.values(logs).some(log => !log.complete)
    );
  }

  /**
   * Not while a round is under way: its end schedules the next.
   */
  protected schedule(): void {
    if (!this._ticking) {
      super.schedule();
    }
  }

  /**
   * One round of polling: the open logs, then the operations; the
   * environment again once an operation ended (its packages changed).
   */
  protected async poll(): Promise<void> {
    const project = this.state.project;
    if (project === null || this.isDisposed) {
      return;
    }
    this._ticking = true;
    try {
      for (const [key, log] of Object.entries(this.state.logs)) {
        if (!log.complete) {
          await this._readLog(project, Number(key));
        }
      }
      const before = (this.state.operations ?? [])
        .filter(op => isPending(op.status))
        .map(op => op.id);
      if (before.length > 0 || (this.state.environment?.pending ?? 0) > 0) {
        const generation = this.generation;
        const operations = await this._getOperations(project);
        const ended = operations.some(
          op => before.includes(op.id) && !isPending(op.status)
        );
        const environment = ended
          ? await this._getEnvironment(project)
          : this.state.environment;
        if (generation === this.generation && this.state.project === project) {
          this.setState({ ...this.state, operations, environment });
        }
      }
    } catch (error) {
      // The next refresh shows a lasting failure; polling goes on.
      console.warn('hopsworks-lab: polling the environment failed', error);
    } finally {
      this._ticking = false;
    }
    this.schedule();
  }

  /**
   * Read what is new in operation `id`'s log (several chunks if the server
   * has more than one), then mark it complete once the operation ended.
   */
  private async _readLog(project: string, id: number): Promise<void> {
    let decoder = this._decoders.get(id);
    if (decoder === undefined) {
      decoder = new TextDecoder();
      this._decoders.set(id, decoder);
    }
    for (let round = 0; round < 16; round++) {
      const log = this.state.logs[id];
      if (log === undefined || log.complete || this.isDisposed) {
        return;
      }
      // Without the status header (a proxy may drop it), the operation's
      // status as listed before this read says whether the log is whole.
      const listed = this.state.operations?.find(op => op.id === id)?.status;
      let chunk: ILogChunk;
      try {
        chunk = await readOperationLog(this._client, project, id, log.offset);
      } catch (error) {
        const message = describeError(error);
        const current = this.state.logs[id];
        if (this.state.project === project && current !== undefined) {
          if (current.error !== message) {
            notifyError(message);
          }
          this._setLog(id, { ...current, error: message });
        }
        return;
      }
      const current = this.state.logs[id];
      if (
        this.state.project !== project ||
        current === undefined ||
        current.offset !== log.offset
      ) {
        return; // closed, reopened or another project meanwhile
      }
      const status = chunk.status ?? listed ?? null;
      const ended = status !== null && !isPending(status);
      // Without the size header, the end is a read that returns nothing.
      const atEnd =
        chunk.size !== null
          ? chunk.next >= chunk.size
          : chunk.bytes.length === 0;
      const text = decoder.decode(chunk.bytes, { stream: !(ended && atEnd) });
      let all = current.text + text;
      if (all.length > LOG_KEEP) {
        all = '…\n' + all.slice(all.length - LOG_KEEP);
      }
      this._setLog(id, {
        text: all,
        offset: chunk.next,
        complete: ended && atEnd,
        error: null
      });
      if (atEnd || chunk.bytes.length === 0) {
        return;
      }
    }
  }

  private _setLog(id: number, log: IOperationLog): void {
    this.setState({
      ...this.state,
      logs: { ...this.state.logs, [id]: log }
    });
  }

  private _getEnvironment(project: string): Promise<Environment> {
    return unwrap(
      this._client.GET('/api/projects/{project}/environment', {
        params: { path: { project } }
      })
    );
  }

  private async _getOperations(
    project: string
  ): Promise<EnvironmentOperation[]> {
    const list = await unwrap(
      this._client.GET('/api/projects/{project}/environment/operations', {
        params: { path: { project }, query: { limit: OPERATIONS_LIMIT } }
      })
    );
    return list.items;
  }

  private _client: ApiClient;
  private _decoders = new Map<number, TextDecoder>();
  private _ticking = false;
}

/**
 * The namespace for {@link EnvironmentModel} statics.
 */
export namespace EnvironmentModel {
  export interface IOptions {
    client: ApiClient;
    /**
     * How often (ms) to poll while an operation runs.
     */
    pollInterval?: number;
  }
}

function emptyLog(): IOperationLog {
  return { text: '', offset: 0, complete: false, error: null };
}

/**
 * One read of an operation's log.
 */
interface ILogChunk {
  bytes: Uint8Array;
  /**
   * Where the next read continues (`X-Log-Offset`).
   */
  next: number;
  /**
   * The log's size when read (`X-Log-Size`), if the server said.
   */
  size: number | null;
  /**
   * The operation's status when read (`X-Operation-Status`).
   */
  status: OperationStatus | null;
}

/**
 * Read operation `id`'s log from byte `offset`. The log is plain text with
 * its position in headers; bytes (not text) so that a character cut between
 * two reads is decoded whole.
 */
async function readOperationLog(
  client: ApiClient,
  project: string,
  operation: number,
  offset: number
): Promise<ILogChunk> {
  const call = client.GET(
    '/api/projects/{project}/environment/operations/{operation}/log',
    {
      params: { path: { project, operation }, query: { offset } },
      parseAs: 'arrayBuffer'
    }
  );
  const data = await unwrap(call);
  const { response } = await call;
  const bytes = new Uint8Array(data);
  const header = (name: string): number | null => {
    const value = Number(response.headers.get(name));
    return response.headers.has(name) && Number.isFinite(value) ? value : null;
  };
  const next = header('X-Log-Offset') ?? offset + bytes.length;
  const status = response.headers.get('X-Operation-Status');
  const statuses: OperationStatus[] = [
    'QUEUED',
    'RUNNING',
    'SUCCEEDED',
    'FAILED'
  ];
  return {
    bytes,
    next,
    size: header('X-Log-Size'),
    status: statuses.find(s => s === status) ?? null
  };
}

/**
 * The props of {@link EnvironmentView}.
 */
export interface IEnvironmentViewProps {
  state: IEnvironmentState;
  /**
   * Only a Data Owner gets the install form and the uninstall buttons.
   */
  role: Schemas['Role'] | null;
  /**
   * How many packages to render before "Show more".
   */
  pageSize: number;
  onChange: (request: EnvironmentRequest) => Promise<boolean>;
  onUninstall: (name: string) => void;
  onToggleLog: (id: number) => void;
  translator?: ITranslator;
}

/**
 * The project's Python environment: its packages, problems, operations and
 * (for a Data Owner) the install form.
 */
export function EnvironmentView(props: IEnvironmentViewProps): JSX.Element {
  const { state, pageSize } = props;
  const trans = (props.translator ?? nullTranslator).load('hopsworks_lab');
  const owner = props.role === 'DATA_OWNER';
  const env = state.environment;
  if (state.project === null) {
    return (
      <div className="hwl-panel-body hwl-env">
        <p className="hwl-empty">{trans.__('No active project.')}</p>
      </div>
    );
  }
  return (
    <div className="hwl-panel-body hwl-env" data-project={state.project}>
      {state.loading && env === null && (
        <div className="hwl-loading" role="status">
          {trans.__('Loading…')}
        </div>
      )}
      {state.error && (
        <div className="hwl-error" role="alert">
          <p className="hwl-error-message">{state.error}</p>
        </div>
      )}
      {env && (
        <div className="hwl-env-summary">
          <span
            className="hwl-env-python"
            title={trans.__('%1, layered on %2', env.python, env.base_python)}
          >
            {trans.__('Python %1', env.python_version)}
          </span>
          <span className="hwl-env-generation">
            {trans.__('generation %1', env.generation)}
          </span>
          {env.pending > 0 && (
            <span className="hwl-badge hwl-env-pending">
              {trans._n(
                '%1 operation pending',
                '%1 operations pending',
                env.pending
              )}
            </span>
          )}
        </div>
      )}
      {env && env.problems.length > 0 && (
        <div className="hwl-mismatch hwl-env-problems" role="status">
          <p className="hwl-env-problems-title">
            {trans.__('pip check reports conflicts:')}
          </p>
          <ul className="hwl-env-problem-list">
            {env.problems.map(problem => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        </div>
      )}
      {env && (
        <PackageList
          // a new project starts with its first page again
          key={state.project}
          packages={env.packages}
          owner={owner}
          busy={state.busy}
          pageSize={pageSize}
          onUninstall={props.onUninstall}
          trans={trans}
        />
      )}
      {owner && env && (
        <InstallForm
          busy={state.busy}
          onChange={props.onChange}
          trans={trans}
        />
      )}
      {state.operations && (
        <OperationList
          operations={state.operations}
          logs={state.logs}
          onToggleLog={props.onToggleLog}
          trans={trans}
        />
      )}
    </div>
  );
}

/**
 * The packages, the project's own first, with a filter box and "Show
 * more".
 */
function PackageList(props: {
  packages: EnvironmentPackage[];
  owner: boolean;
  busy: boolean;
  pageSize: number;
  onUninstall: (name: string) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { packages, owner, busy, pageSize, trans } = props;
  const [filter, setFilter] = React.useState('');
  const [shown, setShown] = React.useState(pageSize);
  const needle = filter.trim().toLowerCase();
  const sorted = React.useMemo(
    () =>
      [...packages].sort((a, b) =>
        a.source === b.source
          ? a.name.localeCompare(b.name)
          : a.source === 'project'
            ? -1
            : 1
      ),
    [packages]
  );
  const matching = needle
    ? sorted.filter(p => p.name.toLowerCase().includes(needle))
    : sorted;
  const own = packages.filter(p => p.source === 'project').length;
  return (
    <div className="hwl-env-packages">
      <div className="hwl-section-title">
        {trans.__(
          'Packages (%1 of the project, %2 in all)',
          own,
          packages.length
        )}
      </div>
      <input
        className="jp-mod-styled hwl-env-filter"
        type="search"
        placeholder={trans.__('Filter packages')}
        aria-label={trans.__('Filter packages')}
        value={filter}
        onChange={event => {
          setFilter(event.target.value);
          setShown(pageSize);
        }}
      />
      {matching.length === 0 ? (
        <p className="hwl-empty">{trans.__('No matching packages.')}</p>
      ) : (
        <ul className="hwl-package-list" aria-label={trans.__('Packages')}>
          {matching.slice(0, shown).map(p => (
            <li
              key={p.name}
              className="hwl-package"
              data-package={p.name}
              data-source={p.source}
            >
              <span className="hwl-package-name">{p.name}</span>
              <span className="hwl-package-version">{p.version}</span>
              {p.base_version !== null && (
                <span
                  className="hwl-package-base"
                  title={trans.__(
                    'The base environment has %1',
                    p.base_version
                  )}
                >
                  {trans.__('base %1', p.base_version)}
                </span>
              )}
              <span
                className={`hwl-badge hwl-package-source hwl-package-source-${p.source}`}
                title={
                  p.source === 'project'
                    ? trans.__("Installed in the project's environment")
                    : trans.__(
                        "From the platform's base environment, which every project extends"
                      )
                }
              >
                {p.source === 'project'
                  ? trans.__('project')
                  : trans.__('base')}
              </span>
              {owner && p.source === 'project' && (
                <Button
                  className="hwl-package-uninstall"
                  minimal
                  small
                  disabled={busy}
                  aria-label={trans.__('Uninstall %1', p.name)}
                  title={trans.__('Uninstall %1', p.name)}
                  onClick={() => props.onUninstall(p.name)}
                >
                  {trans.__('Uninstall')}
                </Button>
              )}
            </li>
          ))}
        </ul>
      )}
      {matching.length > shown && (
        <Button
          className="hwl-package-more"
          minimal
          small
          onClick={() => setShown(shown + pageSize)}
        >
          {trans.__('Show more (%1 of %2 shown)', shown, matching.length)}
        </Button>
      )}
    </div>
  );
}

/**
 * The Data Owner's install form: requirements, or a requirements file or a
 * wheel in a dataset.
 */
function InstallForm(props: {
  busy: boolean;
  onChange: (request: EnvironmentRequest) => Promise<boolean>;
  trans: TranslationBundle;
}): JSX.Element {
  const { busy, trans } = props;
  const [kind, setKind] = React.useState<IInstallInput['kind']>('packages');
  const [text, setText] = React.useState('');
  const [problem, setProblem] = React.useState<string | null>(null);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (busy) {
      return;
    }
    const result = installRequest({ kind, text }, trans);
    if ('problem' in result) {
      setProblem(result.problem);
      return;
    }
    setProblem(null);
    if (await props.onChange(result.request)) {
      setText('');
    }
  };
  const placeholders: Record<IInstallInput['kind'], string> = {
    packages: trans.__('e.g. requests==2.31 rich>=13'),
    requirements: trans.__('e.g. Resources/requirements.txt'),
    wheel: trans.__('e.g. Resources/mylib-1.0-py3-none-any.whl')
  };
  return (
    <form
      className="hwl-env-install-form"
      aria-label={trans.__('Install packages')}
      onSubmit={event => void submit(event)}
    >
      <div className="hwl-section-title">{trans.__('Install')}</div>
      <select
        className="jp-mod-styled hwl-env-install-kind"
        aria-label={trans.__('What to install')}
        value={kind}
        onChange={event => {
          setKind(event.target.value as IInstallInput['kind']);
          setProblem(null);
        }}
      >
        <option value="packages">{trans.__('Packages')}</option>
        <option value="requirements">
          {trans.__('Requirements file in a dataset')}
        </option>
        <option value="wheel">{trans.__('Wheel in a dataset')}</option>
      </select>
      <input
        className="jp-mod-styled hwl-env-install-input"
        type="text"
        placeholder={placeholders[kind]}
        aria-label={
          kind === 'packages'
            ? trans.__('Requirements to install')
            : trans.__('File to install, <dataset>/<path>')
        }
        aria-invalid={problem !== null}
        spellCheck={false}
        autoComplete="off"
        value={text}
        onChange={event => {
          setText(event.target.value);
          setProblem(null);
        }}
      />
      <Button
        className="hwl-env-install"
        type="submit"
        small
        disabled={busy || text.trim() === ''}
        aria-label={trans.__('Install')}
        title={trans.__(
          "Install into a copy of the project's environment, which replaces it only if the install works"
        )}
      >
        {trans.__('Install')}
      </Button>
      {problem && (
        <p className="hwl-hint hwl-env-install-problem" role="alert">
          {problem}
        </p>
      )}
    </form>
  );
}

/**
 * The operations, newest first, with their status, result and log.
 */
function OperationList(props: {
  operations: EnvironmentOperation[];
  logs: Record<number, IOperationLog>;
  onToggleLog: (id: number) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { operations, logs, trans } = props;
  return (
    <div className="hwl-env-operations">
      <div className="hwl-section-title">{trans.__('Operations')}</div>
      {operations.length === 0 ? (
        <p className="hwl-empty">{trans.__('No operations yet.')}</p>
      ) : (
        <ul
          className="hwl-env-operation-list"
          aria-label={trans.__('Environment operations')}
        >
          {operations.map(op => (
            <OperationRow
              key={op.id}
              op={op}
              log={logs[op.id] ?? null}
              onToggleLog={props.onToggleLog}
              trans={trans}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

function OperationRow(props: {
  op: EnvironmentOperation;
  log: IOperationLog | null;
  onToggleLog: (id: number) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { op, log, trans } = props;
  const when = op.finished_at ?? op.started_at ?? op.created_at;
  const changes = [
    ...op.added.map(a => trans.__('+ %1', a)),
    ...op.removed.map(r => trans.__('− %1', r)),
    ...op.changed.map(c => trans.__('~ %1', c))
  ];
  return (
    <li
      className="hwl-env-operation"
      data-operation={op.id}
      data-status={op.status}
    >
      <div className="hwl-env-operation-header">
        <span className="hwl-env-operation-what">
          {describeOperation(op, trans)}
        </span>
        <span
          className={`hwl-badge hwl-status hwl-status-${op.status.toLowerCase()}`}
        >
          {op.status}
        </span>
      </div>
      <div className="hwl-env-operation-meta">
        <span>{op.requested_by}</span>
        <span title={Time.format(when)}>{Time.formatHuman(when)}</span>
        <Button
          className="hwl-env-operation-log-toggle"
          minimal
          small
          aria-label={trans.__('Log of operation %1', op.id)}
          aria-expanded={log !== null}
          onClick={() => props.onToggleLog(op.id)}
        >
          {log !== null ? trans.__('Hide log') : trans.__('Log')}
        </Button>
      </div>
      {op.message &&
        (op.status === 'FAILED' ? (
          <p className="hwl-error hwl-env-operation-message" role="alert">
            {op.message}
          </p>
        ) : (
          <p className="hwl-env-operation-message">{op.message}</p>
        ))}
      {changes.length > 0 && (
        <p className="hwl-env-operation-changes">{changes.join(', ')}</p>
      )}
      {op.problems.length > 0 && (
        <ul className="hwl-mismatch hwl-env-operation-problems">
          {op.problems.map(problem => (
            <li key={problem}>{problem}</li>
          ))}
        </ul>
      )}
      {log !== null && (
        <div className="hwl-env-log">
          {log.error && (
            <p className="hwl-error hwl-env-log-error" role="alert">
              {log.error}
            </p>
          )}
          <pre
            className="hwl-env-log-text"
            data-complete={log.complete ? 'true' : 'false'}
            aria-label={trans.__('Log of operation %1', op.id)}
          >
            {log.text ||
              (log.complete ? trans.__('(empty)') : trans.__('Waiting…'))}
          </pre>
        </div>
      )}
    </li>
  );
}

/**
 * The Environment section of the sidebar.
 */
export class EnvironmentPanel extends ActiveSectionWidget<EnvironmentModel> {
  constructor(options: EnvironmentPanel.IOptions) {
    const translator = options.translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');
    super(trans.__('Environment'), 'hwl-env-section', options.sidebar);
    this._translator = translator;
    this._trans = trans;
    this.model = new EnvironmentModel({
      client: options.sidebar.client,
      pollInterval: options.pollInterval
    });
    this.sidebar.refreshRequested.connect(this._onRefreshRequested, this);
    // The user's role comes from the sidebar's model.
    this.sidebar.model.stateChanged.connect(this._onSidebarState, this);
    if (this.sidebar.model.projects.activeProject !== null) {
      void this.refresh();
    }
  }

  readonly model: EnvironmentModel;

  /**
   * Reload the active project's environment.
   */
  refresh(): Promise<void> {
    return this.model.load(this.sidebar.model.projects.activeProject);
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <EnvironmentView
            state={this.model.state}
            role={this.sidebar.model.role}
            pageSize={this.sidebar.preferences.pageSize}
            onChange={request => this.model.change(request)}
            onUninstall={name => void this._uninstall(name)}
            onToggleLog={id => this.model.toggleLog(id)}
            translator={this._translator}
          />
        )}
      </UseSignal>
    );
  }

  private async _uninstall(name: string): Promise<void> {
    const trans = this._trans;
    const confirmed = await confirmAction({
      title: trans.__('Uninstall %1', name),
      body: trans.__(
        'Uninstall %1 from the environment of %2? Kernels and jobs started afterwards no longer have it (a version in the base environment, if any, is used again).',
        name,
        this.model.state.project ?? ''
      ),
      label: trans.__('Uninstall'),
      trans
    });
    if (confirmed) {
      await this.model.change({ op: 'uninstall', packages: [name] });
    }
  }

  private _onRefreshRequested(): void {
    void this.refresh();
  }

  private _onSidebarState(): void {
    this.update();
  }

  private _translator: ITranslator;
  private _trans: TranslationBundle;
}

/**
 * The namespace for {@link EnvironmentPanel} statics.
 */
export namespace EnvironmentPanel {
  export interface IOptions {
    sidebar: IHopsworksSidebar;
    translator?: ITranslator;
    /**
     * How often (ms) to poll while an operation runs.
     */
    pollInterval?: number;
  }
}

/**
 * Adds the Environment section (rank 500) to the Hopsworks sidebar.
 */
export const environmentPlugin: JupyterFrontEndPlugin<void> = {
  id: 'hopsworks-lab:environment',
  description:
    "The Environment section of the Hopsworks sidebar: the project's Python version and packages, pip check problems and the install/uninstall operations with their logs; Data Owners install and uninstall.",
  autoStart: true,
  requires: [IHopsworksSidebar],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    sidebar: IHopsworksSidebar,
    translator: ITranslator | null
  ): void => {
    sidebar.addSection(
      new EnvironmentPanel({ sidebar, translator: translator ?? undefined }),
      500
    );
  }
};
