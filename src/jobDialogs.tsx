import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { Time } from '@jupyterlab/coreutils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Schemas } from './api';
import type { ApiClient } from './client';
import { unwrap } from './client';
import { describeError, notifyError } from './feedback';

export type Job = Schemas['Job'];
export type JobType = Schemas['JobType'];
export type JobCreate = Schemas['JobCreate'];
export type JobUpdate = Schemas['JobUpdate'];
export type JobScheduleRequest = Schemas['JobSchedule'];
type SparkJobSettings = Schemas['SparkJobSettings'];
type SparkJobSettingsInfo = Schemas['SparkJobSettingsInfo'];
type SparkCount =
  | 'driver_cores'
  | 'executor_cores'
  | 'executors'
  | 'min_executors'
  | 'max_executors';

/**
 * The server's defaults of the Spark settings (`SparkJobSettings`), sent
 * where the form is left empty.
 */
export const SPARK_DEFAULTS: Pick<SparkJobSettings, SparkCount> & {
  dynamic_allocation: boolean;
} = {
  driver_cores: 1,
  executor_cores: 1,
  executors: 1,
  dynamic_allocation: false,
  min_executors: 0,
  max_executors: 2
};

/**
 * The server's rule for job names (`JobName`).
 */
const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * JVM memory as Spark writes it (`SparkMemory`), e.g. 512m, 2g.
 */
const SPARK_MEMORY = /^[1-9][0-9]{0,6}([kKmMgGtT][bB]?)?$/;

/**
 * Split a command line into arguments as a shell would: white space
 * separates, '…' and "…" quote, a backslash escapes the next character.
 * Null when a quote is not closed.
 */
export function splitArgs(text: string): string[] | null {
  const args: string[] = [];
  let current = '';
  let started = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== null) {
      if (c === quote) {
        quote = null;
      } else if (
        c === '\\' &&
        quote === '"' &&
        (text[i + 1] === '"' || text[i + 1] === '\\')
      ) {
        current += text[++i];
      } else {
        current += c;
      }
    } else if (c === '"' || c === "'") {
      quote = c;
      started = true;
    } else if (/\s/.test(c)) {
      if (started) {
        args.push(current);
        current = '';
        started = false;
      }
    } else if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
      started = true;
    } else {
      current += c;
      started = true;
    }
  }
  if (quote !== null) {
    return null;
  }
  if (started) {
    args.push(current);
  }
  return args;
}

/**
 * The command line {@link splitArgs} reads back as `args`.
 */
export function joinArgs(args: readonly string[]): string {
  return args
    .map(arg => {
      if (arg !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) {
        return arg;
      }
      if (!arg.includes("'")) {
        return `'${arg}'`;
      }
      return `"${arg.replace(/[\\"]/g, c => '\\' + c)}"`;
    })
    .join(' ');
}

/**
 * The Spark settings of a PYSPARK job as stored (files, properties and
 * everything the form does not show are kept on edit); undefined for a
 * Python job.
 */
export function jobSpark(job: Job): SparkJobSettingsInfo | undefined {
  return 'spark' in job.config ? job.config.spark : undefined;
}

/**
 * What the job dialog's fields hold (text, as typed).
 */
export interface IJobFormValues {
  name: string;
  type: JobType;
  appPath: string;
  args: string;
  driverMemory: string;
  driverCores: string;
  executorMemory: string;
  executorCores: string;
  executors: string;
  dynamicAllocation: boolean;
  minExecutors: string;
  maxExecutors: string;
}

/**
 * The form's values for a new job, or for editing `job`.
 */
export function jobFormValues(job?: Job): IJobFormValues {
  if (job === undefined) {
    return {
      name: '',
      type: 'PYTHON',
      appPath: '',
      args: '',
      driverMemory: '',
      driverCores: '',
      executorMemory: '',
      executorCores: '',
      executors: '',
      dynamicAllocation: false,
      minExecutors: '',
      maxExecutors: ''
    };
  }
  const spark = jobSpark(job);
  const text = (value?: number | string) =>
    value === undefined ? '' : String(value);
  return {
    name: job.name,
    type: job.type,
    appPath: job.config.app_path,
    args: joinArgs(job.config.args),
    driverMemory: text(spark?.driver_memory),
    driverCores: text(spark?.driver_cores),
    executorMemory: text(spark?.executor_memory),
    executorCores: text(spark?.executor_cores),
    executors: text(spark?.executors),
    dynamicAllocation: spark?.dynamic_allocation ?? false,
    minExecutors: text(spark?.min_executors),
    maxExecutors: text(spark?.max_executors)
  };
}

/**
 * The job types a program can run as: a notebook only as PYTHON.
 */
export function typesFor(appPath: string): JobType[] {
  return appPath.trim().endsWith('.ipynb') ? ['PYTHON'] : ['PYTHON', 'PYSPARK'];
}

/**
 * The body of `createJob` for the form's values (`previous`: the Spark
 * settings of the job being edited, kept where the form does not change
 * them), or why it cannot be sent.
 */
export function jobRequest(
  values: IJobFormValues,
  trans: TranslationBundle,
  previous: Partial<SparkJobSettings> = {}
): { body: JobCreate } | { problem: string } {
  const name = values.name.trim();
  if (!JOB_NAME.test(name)) {
    return {
      problem: trans.__(
        'A job name has 1 to 64 letters, digits, "_" and "-", and starts with a letter or digit.'
      )
    };
  }
  const appPath = values.appPath
    .trim()
    .split('/')
    .filter(s => s !== '')
    .join('/');
  if (!appPath.includes('/') || !/\.(py|ipynb)$/.test(appPath)) {
    return {
      problem: trans.__(
        'Enter the program as <dataset>/<path> of a .py or .ipynb file, e.g. Resources/train.py.'
      )
    };
  }
  if (!typesFor(appPath).includes(values.type)) {
    return { problem: trans.__('A notebook runs as a Python job.') };
  }
  const args = splitArgs(values.args);
  if (args === null) {
    return { problem: trans.__('A quote in the arguments is not closed.') };
  }
  if (values.type === 'PYTHON') {
    return {
      body: { name, type: 'PYTHON', config: { app_path: appPath, args } }
    };
  }
  const spark: SparkJobSettings = { ...SPARK_DEFAULTS, ...previous };
  const memories: [string, 'driver_memory' | 'executor_memory'][] = [
    [values.driverMemory, 'driver_memory'],
    [values.executorMemory, 'executor_memory']
  ];
  for (const [text, key] of memories) {
    const value = text.trim();
    if (value === '') {
      delete spark[key];
    } else if (!SPARK_MEMORY.test(value)) {
      return {
        problem: trans.__('“%1” is not a memory size (e.g. 512m, 2g).', value)
      };
    } else {
      spark[key] = value;
    }
  }
  const counts: [string, SparkCount, number][] = [
    [values.driverCores, 'driver_cores', 1],
    [values.executorCores, 'executor_cores', 1],
    [values.executors, 'executors', 1],
    [values.minExecutors, 'min_executors', 0],
    [values.maxExecutors, 'max_executors', 1]
  ];
  for (const [text, key, min] of counts) {
    const value = text.trim();
    if (value === '') {
      spark[key] = SPARK_DEFAULTS[key];
    } else if (!/^[0-9]{1,5}$/.test(value) || Number(value) < min) {
      return {
        problem: trans.__(
          '“%1” is not a whole number of at least %2.',
          value,
          min
        )
      };
    } else {
      spark[key] = Number(value);
    }
  }
  spark.dynamic_allocation = values.dynamicAllocation;
  if (values.dynamicAllocation && spark.min_executors > spark.max_executors) {
    return {
      problem: trans.__(
        'The minimum number of executors is more than the maximum.'
      )
    };
  }
  return {
    body: {
      name,
      type: 'PYSPARK',
      config: { app_path: appPath, args, spark }
    }
  };
}

/**
 * The options of {@link showJobDialog}.
 */
export interface IJobDialogOptions {
  client: ApiClient;
  project: string;
  /**
   * The job to edit; a new one when left out.
   */
  job?: Job;
  translator?: ITranslator;
}

/**
 * Ask for a job's name, program, type, arguments and Spark settings, then
 * create it (`POST …/jobs`) or replace its settings (`PUT …/jobs/{job}`).
 * When the server refuses (a missing program, a taken name, a bad setting)
 * its message is notified and shown, and the dialog opens again with what
 * the user typed: nothing changes until the server accepts.
 *
 * @returns the job as saved, or null when the user gave up
 */
export async function showJobDialog(
  options: IJobDialogOptions
): Promise<Job | null> {
  const { client, project, job } = options;
  const trans = (options.translator ?? nullTranslator).load('hopsworks_lab');
  const previous = job ? jobSpark(job) : undefined;
  let values = jobFormValues(job);
  let error: string | null = null;
  for (;;) {
    const result = await showDialog({
      title: job ? trans.__('Edit job %1', job.name) : trans.__('New job'),
      body: new JobForm(values, job !== undefined, error, trans),
      focusNodeSelector: job ? '.hwl-job-form-path' : '.hwl-job-form-name',
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: job ? trans.__('Save') : trans.__('Create') })
      ]
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    values = result.value;
    const request = jobRequest(values, trans, previous);
    if ('problem' in request) {
      error = request.problem;
      continue;
    }
    const body = request.body;
    try {
      if (job === undefined) {
        return await unwrap(
          client.POST('/api/projects/{project}/jobs', {
            params: { path: { project } },
            body
          })
        );
      }
      const update: JobUpdate =
        body.type === 'PYTHON'
          ? { type: body.type, config: body.config }
          : { type: body.type, config: body.config };
      return await unwrap(
        client.PUT('/api/projects/{project}/jobs/{job}', {
          params: { path: { project, job: job.name } },
          body: update
        })
      );
    } catch (reason) {
      error = describeError(reason);
      notifyError(
        job
          ? trans.__('Could not save job %1', job.name)
          : trans.__('Could not create job %1', body.name),
        reason
      );
    }
  }
}

/**
 * The job dialog's body; its value is what the user typed.
 */
class JobForm
  extends ReactWidget
  implements Dialog.IBodyWidget<IJobFormValues>
{
  constructor(
    initial: IJobFormValues,
    editing: boolean,
    error: string | null,
    trans: TranslationBundle
  ) {
    super();
    this.addClass('hwl-job-dialog');
    this._value = initial;
    this._initial = initial;
    this._editing = editing;
    this._error = error;
    this._trans = trans;
  }

  getValue(): IJobFormValues {
    return this._value;
  }

  protected render(): JSX.Element {
    return (
      <JobFormView
        initial={this._initial}
        editing={this._editing}
        error={this._error}
        onChange={value => (this._value = value)}
        trans={this._trans}
      />
    );
  }

  private _value: IJobFormValues;
  private _initial: IJobFormValues;
  private _editing: boolean;
  private _error: string | null;
  private _trans: TranslationBundle;
}

function JobFormView(props: {
  initial: IJobFormValues;
  editing: boolean;
  error: string | null;
  onChange: (values: IJobFormValues) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { editing, error, trans } = props;
  const [values, setValues] = React.useState(props.initial);
  const update = (change: Partial<IJobFormValues>) => {
    const next = { ...values, ...change };
    // a notebook runs only as a Python job
    if (!typesFor(next.appPath).includes(next.type)) {
      next.type = 'PYTHON';
    }
    setValues(next);
    props.onChange(next);
  };
  const types = typesFor(values.appPath);
  const text = (
    key: keyof IJobFormValues,
    label: string,
    className: string,
    placeholder = ''
  ) => (
    <label className="hwl-job-form-field">
      <span>{label}</span>
      <input
        className={`jp-mod-styled ${className}`}
        type="text"
        aria-label={label}
        placeholder={placeholder}
        spellCheck={false}
        autoComplete="off"
        value={String(values[key])}
        onChange={event => update({ [key]: event.target.value })}
      />
    </label>
  );
  return (
    <div className="hwl-job-form">
      {!editing && text('name', trans.__('Name'), 'hwl-job-form-name', 'train')}
      {text(
        'appPath',
        trans.__('Program'),
        'hwl-job-form-path',
        trans.__('<dataset>/<path>.py or .ipynb, e.g. Resources/train.py')
      )}
      <label className="hwl-job-form-field">
        <span>{trans.__('Type')}</span>
        <select
          className="jp-mod-styled hwl-job-form-type"
          aria-label={trans.__('Type')}
          value={values.type}
          onChange={event => update({ type: event.target.value as JobType })}
        >
          <option value="PYTHON">{trans.__('Python')}</option>
          <option value="PYSPARK" disabled={!types.includes('PYSPARK')}>
            {trans.__('PySpark')}
          </option>
        </select>
      </label>
      {text(
        'args',
        trans.__('Default arguments'),
        'hwl-job-form-args',
        trans.__('e.g. --epochs 3 (a notebook takes key=value)')
      )}
      {values.type === 'PYSPARK' && (
        <fieldset className="hwl-job-form-spark">
          <legend>{trans.__('Spark')}</legend>
          {text(
            'driverMemory',
            trans.__('Driver memory'),
            'hwl-job-form-driver-memory',
            '1g'
          )}
          {text(
            'driverCores',
            trans.__('Driver cores'),
            'hwl-job-form-driver-cores',
            '1'
          )}
          {text(
            'executorMemory',
            trans.__('Executor memory'),
            'hwl-job-form-executor-memory',
            '1g'
          )}
          {text(
            'executorCores',
            trans.__('Executor cores'),
            'hwl-job-form-executor-cores',
            '1'
          )}
          <label className="hwl-job-form-check">
            <input
              className="hwl-job-form-dynamic"
              type="checkbox"
              checked={values.dynamicAllocation}
              onChange={event =>
                update({ dynamicAllocation: event.target.checked })
              }
            />
            <span>{trans.__('Dynamic allocation')}</span>
          </label>
          {values.dynamicAllocation ? (
            <>
              {text(
                'minExecutors',
                trans.__('Minimum executors'),
                'hwl-job-form-min-executors',
                '0'
              )}
              {text(
                'maxExecutors',
                trans.__('Maximum executors'),
                'hwl-job-form-max-executors',
                '2'
              )}
            </>
          ) : (
            text(
              'executors',
              trans.__('Executors'),
              'hwl-job-form-executors',
              '1'
            )
          )}
        </fieldset>
      )}
      {error && (
        <p className="hwl-error hwl-job-form-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * Ask for the arguments of a run, starting from the job's defaults.
 *
 * @returns the arguments, or null when the user cancelled
 */
export async function promptRunArguments(
  job: Job,
  translator?: ITranslator
): Promise<string[] | null> {
  const trans = (translator ?? nullTranslator).load('hopsworks_lab');
  let text = joinArgs(job.config.args);
  let label = trans.__("Arguments (separated by spaces; quote with '…')");
  for (;;) {
    const result = await InputDialog.getText({
      title: trans.__('Run %1', job.name),
      label,
      text,
      placeholder: trans.__('no arguments'),
      okLabel: trans.__('Run'),
      cancelLabel: trans.__('Cancel')
    });
    if (!result.button.accept) {
      return null;
    }
    text = result.value ?? '';
    const args = splitArgs(text);
    if (args !== null) {
      return args;
    }
    label = trans.__('A quote is not closed. Arguments:');
  }
}

/**
 * What the schedule dialog's fields hold.
 */
export interface IScheduleFormValues {
  cron: string;
  /**
   * `datetime-local` values (the user's time zone), or ''.
   */
  start: string;
  end: string;
  enabled: boolean;
  allowOverlap: boolean;
  catchUp: boolean;
}

/**
 * An RFC 3339 time as a `datetime-local` value in the user's time zone.
 */
export function toLocalInput(iso: string | null): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return '';
  }
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

/**
 * A `datetime-local` value (the user's time zone) as RFC 3339 UTC; null
 * when it is not a time.
 */
export function fromLocalInput(value: string): string | null {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/**
 * The body of `scheduleJob` for the form's values, or why it cannot be sent.
 */
export function scheduleRequest(
  values: IScheduleFormValues,
  trans: TranslationBundle
): { body: JobScheduleRequest } | { problem: string } {
  const cron = values.cron.trim();
  if (cron === '') {
    return {
      problem: trans.__('Enter a cron expression, e.g. 0 3 * * * or @daily.')
    };
  }
  const body: JobScheduleRequest = {
    cron,
    enabled: values.enabled,
    allow_overlap: values.allowOverlap,
    catch_up: values.catchUp
  };
  for (const key of ['start', 'end'] as const) {
    if (values[key] !== '') {
      const time = fromLocalInput(values[key]);
      if (time === null) {
        return { problem: trans.__('“%1” is not a time.', values[key]) };
      }
      body[key] = time;
    }
  }
  if (body.start && body.end && body.start >= body.end) {
    return { problem: trans.__('The end is not after the start.') };
  }
  return { body };
}

/**
 * The options of {@link showScheduleDialog}.
 */
export interface IScheduleDialogOptions {
  client: ApiClient;
  project: string;
  job: Job;
  translator?: ITranslator;
}

/**
 * Ask for the job's schedule (cron in UTC, start/end, enabled, overlap,
 * catch-up) and save it (`PUT …/schedule`), or remove it
 * (`DELETE …/schedule`). A refusal (e.g. a cron expression the server does
 * not read) is notified and shown, and the dialog opens again.
 *
 * @returns true when the schedule changed
 */
export async function showScheduleDialog(
  options: IScheduleDialogOptions
): Promise<boolean> {
  const { client, project, job } = options;
  const trans = (options.translator ?? nullTranslator).load('hopsworks_lab');
  const current = job.schedule;
  let values: IScheduleFormValues = {
    cron: current?.cron ?? '',
    start: toLocalInput(current?.start ?? null),
    end: toLocalInput(current?.end ?? null),
    enabled: current?.enabled ?? true,
    allowOverlap: current?.allow_overlap ?? false,
    catchUp: current?.catch_up ?? false
  };
  const removeLabel = trans.__('Remove schedule');
  let error: string | null = null;
  for (;;) {
    const buttons = [Dialog.cancelButton({ label: trans.__('Cancel') })];
    if (current !== null) {
      buttons.push(Dialog.warnButton({ label: removeLabel }));
    }
    buttons.push(Dialog.okButton({ label: trans.__('Save') }));
    const result = await showDialog({
      title: trans.__('Schedule %1', job.name),
      body: new ScheduleForm(values, job, error, trans),
      focusNodeSelector: '.hwl-schedule-form-cron',
      buttons
    });
    if (!result.button.accept) {
      return false;
    }
    const params = { path: { project, job: job.name } };
    if (result.button.label === removeLabel) {
      try {
        await unwrap(
          client.DELETE('/api/projects/{project}/jobs/{job}/schedule', {
            params
          })
        );
        return true;
      } catch (reason) {
        error = describeError(reason);
        notifyError(
          trans.__('Could not remove the schedule of %1', job.name),
          reason
        );
        continue;
      }
    }
    if (result.value === null) {
      return false;
    }
    values = result.value;
    const request = scheduleRequest(values, trans);
    if ('problem' in request) {
      error = request.problem;
      continue;
    }
    try {
      await unwrap(
        client.PUT('/api/projects/{project}/jobs/{job}/schedule', {
          params,
          body: request.body
        })
      );
      return true;
    } catch (reason) {
      error = describeError(reason);
      notifyError(trans.__('Could not schedule %1', job.name), reason);
    }
  }
}

class ScheduleForm
  extends ReactWidget
  implements Dialog.IBodyWidget<IScheduleFormValues>
{
  constructor(
    initial: IScheduleFormValues,
    job: Job,
    error: string | null,
    trans: TranslationBundle
  ) {
    super();
    this.addClass('hwl-schedule-dialog');
    this._value = initial;
    this._initial = initial;
    this._job = job;
    this._error = error;
    this._trans = trans;
  }

  getValue(): IScheduleFormValues {
    return this._value;
  }

  protected render(): JSX.Element {
    return (
      <ScheduleFormView
        initial={this._initial}
        job={this._job}
        error={this._error}
        onChange={value => (this._value = value)}
        trans={this._trans}
      />
    );
  }

  private _value: IScheduleFormValues;
  private _initial: IScheduleFormValues;
  private _job: Job;
  private _error: string | null;
  private _trans: TranslationBundle;
}

function ScheduleFormView(props: {
  initial: IScheduleFormValues;
  job: Job;
  error: string | null;
  onChange: (values: IScheduleFormValues) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { job, error, trans } = props;
  const [values, setValues] = React.useState(props.initial);
  const update = (change: Partial<IScheduleFormValues>) => {
    const next = { ...values, ...change };
    setValues(next);
    props.onChange(next);
  };
  const check = (
    key: 'enabled' | 'allowOverlap' | 'catchUp',
    label: string,
    className: string
  ) => (
    <label className="hwl-job-form-check">
      <input
        className={className}
        type="checkbox"
        checked={values[key]}
        onChange={event => update({ [key]: event.target.checked })}
      />
      <span>{label}</span>
    </label>
  );
  const time = (key: 'start' | 'end', label: string, className: string) => (
    <label className="hwl-job-form-field">
      <span>{label}</span>
      <input
        className={`jp-mod-styled ${className}`}
        type="datetime-local"
        aria-label={label}
        value={values[key]}
        onChange={event => update({ [key]: event.target.value })}
      />
    </label>
  );
  return (
    <div className="hwl-job-form hwl-schedule-form">
      <label className="hwl-job-form-field">
        <span>{trans.__('Cron expression (UTC)')}</span>
        <input
          className="jp-mod-styled hwl-schedule-form-cron"
          type="text"
          aria-label={trans.__('Cron expression (UTC)')}
          placeholder="0 3 * * *"
          spellCheck={false}
          autoComplete="off"
          value={values.cron}
          onChange={event => update({ cron: event.target.value })}
        />
      </label>
      <p className="hwl-hint">
        {trans.__(
          'minute hour day month weekday (6 fields: seconds first), or @hourly, @daily, @weekly, @monthly, @yearly.'
        )}
      </p>
      {time(
        'start',
        trans.__('Not before (your time)'),
        'hwl-schedule-form-start'
      )}
      {time('end', trans.__('Not after (your time)'), 'hwl-schedule-form-end')}
      {check('enabled', trans.__('Enabled'), 'hwl-schedule-form-enabled')}
      {check(
        'allowOverlap',
        trans.__('Run even while a run is still going'),
        'hwl-schedule-form-overlap'
      )}
      {check(
        'catchUp',
        trans.__('After downtime, run each missed time'),
        'hwl-schedule-form-catch-up'
      )}
      {job.next_fire_at && (
        <p className="hwl-schedule-form-next">
          {trans.__('Next run: %1', Time.format(job.next_fire_at))}
        </p>
      )}
      {error && (
        <p className="hwl-error hwl-job-form-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
