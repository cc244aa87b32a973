import { Dialog, Notification } from '@jupyterlab/apputils';
import { nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { Schemas } from '../api';
import {
  jobFormValues,
  jobRequest,
  jobSpark,
  joinArgs,
  splitArgs
} from '../jobDialogs';
import { JobLogModel, JobLogWidget } from '../jobLog';
import { Execution, Job, JobsPanel } from '../jobs';
import { HopsworksModel } from '../panel';
import { HopsworksSidebar } from '../sidebar';
import { FakeServer, IFakeRequest, waitFor } from './fakeServer';
import { choose, q, sleep, type } from './dom';

type Role = 'DATA_OWNER' | 'DATA_SCIENTIST';
type SparkJobSettingsInfo = Schemas['SparkJobSettingsInfo'];

const T = '2024-01-01T00:00:00Z';
const trans = nullTranslator.load('hopsworks_lab');

/**
 * Spark settings as the server stores them: every one present.
 */
function spark(
  extra: Partial<SparkJobSettingsInfo> = {}
): SparkJobSettingsInfo {
  return {
    driver_cores: 1,
    driver_memory: '1g',
    executor_cores: 1,
    executor_memory: '1g',
    executors: 1,
    dynamic_allocation: false,
    min_executors: 0,
    max_executors: 2,
    files: [],
    py_files: [],
    properties: {},
    ...extra
  };
}

function job(name: string, extra: Partial<Job> = {}): Job {
  return {
    name,
    project: 'demo',
    type: 'PYTHON',
    config: { app_path: `Resources/${name}.py`, args: [] },
    created_by: 'alice',
    created_at: T,
    updated_at: T,
    schedule: null,
    next_fire_at: null,
    last_execution: null,
    ...extra
  };
}

function execution(
  id: number,
  jobName: string,
  state: Execution['state'],
  extra: Partial<Execution> = {}
): Execution {
  return {
    id,
    job: jobName,
    project: 'demo',
    state,
    args: [],
    submitted_by: 'alice',
    trigger: 'manual',
    scheduled_for: null,
    created_at: T,
    started_at: T,
    finished_at: state === 'RUNNING' ? null : '2024-01-01T00:01:05Z',
    exit_code: state === 'FINISHED' ? 0 : null,
    reason: null,
    log_dir: `Logs/${jobName}/${id}`,
    notebook: null,
    ...extra
  };
}

/**
 * Project demo's jobs and executions as the platform keeps them: reads
 * answer from the current state, changes change it.
 */
class World {
  jobs: Job[] = [
    job('train', {
      config: { app_path: 'Resources/train.py', args: ['--epochs', '3'] },
      schedule: {
        cron: '0 3 * * *',
        start: null,
        end: null,
        enabled: true,
        allow_overlap: false,
        catch_up: false
      },
      next_fire_at: '2099-01-02T03:00:00Z'
    }),
    job('etl', {
      type: 'PYSPARK',
      config: { app_path: 'Resources/etl.py', args: [], spark: spark() }
    })
  ];
  executions: Record<string, Execution[]> = {
    train: [execution(1, 'train', 'FINISHED')],
    etl: []
  };
  nextId = 2;

  /**
   * `job` as the server answers it: with its newest execution.
   */
  view(job: Job): Job {
    return { ...job, last_execution: this.executions[job.name]?.[0] ?? null };
  }

  server(me: string, role: Role): FakeServer {
    const jobPath = /^\/api\/projects\/demo\/jobs\/([^/]+)$/;
    return new FakeServer()
      .json('GET', '/api/users/me', {
        username: me,
        email: null,
        is_admin: false,
        status: 'active',
        totp_enabled: false,
        created_at: T
      })
      .json('GET', '/api/projects', {
        count: 1,
        items: [
          { name: 'demo', description: '', owner: 'alice', created_at: T, role }
        ]
      })
      .on('GET', '/api/projects/demo/jobs', () => ({
        body: {
          count: this.jobs.length,
          items: this.jobs.map(j => this.view(j))
        }
      }))
      .on('POST', '/api/projects/demo/jobs', (request: IFakeRequest) => {
        const body = JSON.parse(request.body);
        const created = job(body.name, {
          type: body.type,
          config: body.config
        });
        this.jobs.push(created);
        this.executions[body.name] = [];
        return { status: 201, body: this.view(created) };
      })
      .on('PUT', jobPath, (request, match) => {
        const found = this.jobs.find(j => j.name === match[1])!;
        const body = JSON.parse(request.body);
        Object.assign(found, { type: body.type, config: body.config });
        return { body: this.view(found) };
      })
      .on('DELETE', jobPath, (_, match) => {
        this.jobs = this.jobs.filter(j => j.name !== match[1]);
        return { status: 204 };
      })
      .on(
        'PUT',
        /^\/api\/projects\/demo\/jobs\/([^/]+)\/schedule$/,
        (request, match) => {
          const found = this.jobs.find(j => j.name === match[1])!;
          const body = JSON.parse(request.body);
          found.schedule = {
            cron: body.cron,
            start: body.start ?? null,
            end: body.end ?? null,
            enabled: body.enabled,
            allow_overlap: body.allow_overlap,
            catch_up: body.catch_up
          };
          found.next_fire_at = '2099-01-01T00:05:00Z';
          return { body: this.view(found) };
        }
      )
      .on(
        'GET',
        /^\/api\/projects\/demo\/jobs\/([^/]+)\/executions$/,
        (request, match) => {
          const all = this.executions[match[1]] ?? [];
          const limit = Number(request.query.get('limit') ?? 100);
          return {
            body: {
              items: all.slice(0, limit),
              count: Math.min(limit, all.length),
              total: all.length
            }
          };
        }
      )
      .on(
        'POST',
        /^\/api\/projects\/demo\/jobs\/([^/]+)\/executions$/,
        (request, match) => {
          const body = JSON.parse(request.body || '{}');
          const started = execution(this.nextId++, match[1], 'RUNNING', {
            args: body.args ?? [],
            submitted_by: me
          });
          this.executions[match[1]].unshift(started);
          return { status: 201, body: started };
        }
      )
      .on(
        'POST',
        /^\/api\/projects\/demo\/jobs\/([^/]+)\/executions\/(\d+)\/stop$/,
        (_, match) => {
          const found = this.executions[match[1]].find(
            e => e.id === Number(match[2])
          )!;
          Object.assign(found, {
            state: 'KILLED',
            exit_code: 143,
            finished_at: '2024-01-01T00:00:30Z',
            reason: 'stopped by ' + me
          });
          return { body: found };
        }
      );
  }
}

function dialogButton(label: string): HTMLButtonElement | null {
  return (
    Array.from(
      document.querySelectorAll<HTMLButtonElement>('.jp-Dialog button')
    ).find(b => b.textContent?.trim() === label) ?? null
  );
}

function dialogField(selector: string): Promise<HTMLInputElement> {
  return waitFor(() =>
    document.querySelector<HTMLInputElement>(`.jp-Dialog ${selector}`)
  );
}

describe('splitArgs and joinArgs', () => {
  it('read and write arguments as a shell does', () => {
    expect(splitArgs(` --name 'a b' "say \\"hi\\"" x\\ y ''`)).toEqual([
      '--name',
      'a b',
      'say "hi"',
      'x y',
      ''
    ]);
    expect(splitArgs("'open")).toBeNull();
    const args = ['--epochs', '3', 'a b', "it's", ''];
    expect(splitArgs(joinArgs(args))).toEqual(args);
  });
});

describe('jobRequest', () => {
  it('runs a notebook only as a Python job and checks Spark settings', () => {
    const values = {
      ...jobFormValues(),
      name: 'nb',
      appPath: 'Jupyter/report.ipynb',
      type: 'PYSPARK' as const
    };
    expect(jobRequest(values, trans)).toHaveProperty('problem');
    expect(
      jobRequest(
        { ...values, appPath: 'Resources/etl.py', executorMemory: 'lots' },
        trans
      )
    ).toHaveProperty('problem');
    expect(
      jobRequest({ ...values, name: 'bad name', type: 'PYTHON' }, trans)
    ).toHaveProperty('problem');
  });

  it('keeps the Spark settings the form does not show when editing', () => {
    const etl = job('etl', {
      type: 'PYSPARK',
      config: {
        app_path: 'Resources/etl.py',
        args: [],
        spark: spark({
          driver_cores: 2,
          executors: 4,
          files: ['Resources/lookup.csv'],
          properties: { 'spark.sql.shuffle.partitions': '8' }
        })
      }
    });
    const values = { ...jobFormValues(etl), executors: '6' };
    expect(values).toMatchObject({ driverCores: '2', driverMemory: '1g' });
    expect(jobRequest(values, trans, jobSpark(etl))).toMatchObject({
      body: {
        type: 'PYSPARK',
        config: {
          spark: {
            driver_cores: 2,
            executors: 6,
            files: ['Resources/lookup.csv'],
            properties: { 'spark.sql.shuffle.partitions': '8' }
          }
        }
      }
    });
  });
});

describe('The Jobs section', () => {
  let world: World;
  let fake: FakeServer;
  let sidebar: HopsworksSidebar;
  let panel: JobsPanel;
  let openLog: jest.Mock;
  let notifyError: jest.SpyInstance;

  beforeEach(() => {
    world = new World();
    openLog = jest.fn();
    notifyError = jest.spyOn(Notification, 'error');
  });

  afterEach(() => {
    Dialog.flush();
    sidebar.dispose();
    fake.restore();
    jest.restoreAllMocks();
  });

  async function open(me: string, role: Role) {
    fake = world.server(me, role).install();
    const model = new HopsworksModel();
    sidebar = new HopsworksSidebar({ model, client: model.client });
    panel = new JobsPanel({ sidebar, openLog, pollInterval: 10 });
    sidebar.addSection(panel, 600);
    Widget.attach(sidebar, document.body);
    sidebar.refresh();
    await waitFor(() => q(panel.node, '.hwl-job[data-job]'));
    await waitFor(() => model.role !== null);
  }

  function row(name: string): HTMLElement | null {
    return q(panel.node, `.hwl-job[data-job="${name}"]`);
  }

  function button(label: string): HTMLButtonElement | null {
    return q<HTMLButtonElement>(panel.node, `button[aria-label="${label}"]`);
  }

  function executionRow(id: number): HTMLElement | null {
    return q(panel.node, `.hwl-execution[data-execution="${id}"]`);
  }

  it('lists the jobs with their type, latest state and schedule', async () => {
    await open('alice', 'DATA_OWNER');
    await waitFor(
      () => row('train')?.getAttribute('data-state') === 'FINISHED'
    );
    expect(row('train')?.getAttribute('data-type')).toBe('PYTHON');
    expect(row('train')?.textContent).toContain('Resources/train.py');
    expect(q(row('train')!, '.hwl-job-schedule')?.textContent).toContain(
      '0 3 * * *'
    );
    expect(q(row('train')!, '.hwl-job-next')?.textContent).toContain('next');
    expect(row('etl')?.getAttribute('data-type')).toBe('PYSPARK');
    expect(row('etl')?.getAttribute('data-state')).toBe('');
    expect(row('etl')?.textContent).toContain('never run');
    expect(q(row('etl')!, '.hwl-job-schedule')).toBeNull();
    // the latest runs come with the job list, not one request per job
    expect(fake.find('GET', /\/executions/)).toHaveLength(0);
  });

  it('creates a PySpark job with its Spark settings from the New job dialog', async () => {
    await open('alice', 'DATA_OWNER');
    button('New job')!.click();
    type(await dialogField('.hwl-job-form-name'), 'daily_etl');
    type(await dialogField('.hwl-job-form-path'), 'Resources/daily.py');
    choose(
      document.querySelector<HTMLSelectElement>(
        '.jp-Dialog .hwl-job-form-type'
      )!,
      'PYSPARK'
    );
    type(
      await dialogField('.hwl-job-form-args'),
      "--day 2024-01-01 'two words'"
    );
    type(await dialogField('.hwl-job-form-executor-memory'), '2g');
    type(await dialogField('.hwl-job-form-executors'), '3');
    dialogButton('Create')!.click();

    await waitFor(() => row('daily_etl'));
    const posts = fake.find('POST', '/api/projects/demo/jobs');
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0].body)).toEqual({
      name: 'daily_etl',
      type: 'PYSPARK',
      config: {
        app_path: 'Resources/daily.py',
        args: ['--day', '2024-01-01', 'two words'],
        spark: {
          driver_cores: 1,
          executor_cores: 1,
          executor_memory: '2g',
          executors: 3,
          dynamic_allocation: false,
          min_executors: 0,
          max_executors: 2
        }
      }
    });
    expect(document.querySelector('.jp-Dialog')).toBeNull();
    expect(notifyError).not.toHaveBeenCalled();
  });

  it('notifies a refused job and changes nothing', async () => {
    await open('alice', 'DATA_OWNER');
    fake.json(
      'POST',
      '/api/projects/demo/jobs',
      {
        error: 'invalid',
        message: "config.app_path: 'Resources/nope.py' does not exist"
      },
      422
    );
    button('New job')!.click();
    type(await dialogField('.hwl-job-form-name'), 'nope');
    type(await dialogField('.hwl-job-form-path'), 'Resources/nope.py');
    dialogButton('Create')!.click();

    await waitFor(() => notifyError.mock.calls.length > 0);
    expect(notifyError.mock.calls[0][0]).toContain('does not exist');
    // the dialog is back with what was typed and the reason
    const alert = await waitFor(() =>
      document.querySelector('.jp-Dialog [role="alert"]')
    );
    expect(alert.textContent).toContain('does not exist');
    expect((await dialogField('.hwl-job-form-name')).value).toBe('nope');
    dialogButton('Cancel')!.click();
    await waitFor(() => document.querySelector('.jp-Dialog') === null);

    expect(fake.find('POST', '/api/projects/demo/jobs')).toHaveLength(1);
    expect(row('nope')).toBeNull();
    expect(
      Array.from(panel.node.querySelectorAll('.hwl-job')).map(r =>
        r.getAttribute('data-job')
      )
    ).toEqual(['train', 'etl']);
  });

  it('runs a job with the arguments typed and stops the execution', async () => {
    await open('alice', 'DATA_OWNER');
    button('Run train')!.click();
    const input = await waitFor(() =>
      document.querySelector<HTMLInputElement>('.jp-Dialog input')
    );
    // the job's default arguments to start from
    expect(input.value).toBe('--epochs 3');
    input.value = "--epochs 5 'a b'";
    dialogButton('Run')!.click();

    // the history opens with the new execution, running
    const running = await waitFor(() => executionRow(2));
    expect(running.getAttribute('data-state')).toBe('RUNNING');
    const posts = fake.find('POST', '/api/projects/demo/jobs/train/executions');
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0].body)).toEqual({
      args: ['--epochs', '5', 'a b']
    });
    expect(executionRow(1)?.getAttribute('data-state')).toBe('FINISHED');
    expect(q(executionRow(1)!, '.hwl-execution-stop')).toBeNull();
    await waitFor(() => row('train')?.getAttribute('data-state') === 'RUNNING');

    button('Stop execution 2')!.click();
    await waitFor(
      () => executionRow(2)?.getAttribute('data-state') === 'KILLED'
    );
    expect(
      fake.find('POST', '/api/projects/demo/jobs/train/executions/2/stop')
    ).toHaveLength(1);
    expect(executionRow(2)?.textContent).toContain('exit 143');
    expect(button('Stop execution 2')).toBeNull();

    // nothing runs any more: the section stops polling
    await sleep(30);
    const reads = fake.find('GET', '/api/projects/demo/jobs').length;
    await sleep(80);
    expect(fake.find('GET', '/api/projects/demo/jobs')).toHaveLength(reads);

    button('Logs of execution 2')!.click();
    expect(openLog).toHaveBeenCalledWith('demo', 'train', 2);
  });

  it('lets a Data Scientist run, stop and read logs but not create, edit, schedule or delete', async () => {
    world.executions.train.unshift(execution(5, 'train', 'RUNNING'));
    await open('bob', 'DATA_SCIENTIST');
    expect(button('Run train')).not.toBeNull();
    expect(button('Run etl')).not.toBeNull();
    expect(button('New job')).toBeNull();
    expect(button('Edit train')).toBeNull();
    expect(button('Schedule train')).toBeNull();
    expect(button('Delete train')).toBeNull();

    button('Executions of train')!.click();
    await waitFor(() => executionRow(5));
    expect(button('Stop execution 5')).not.toBeNull();
    expect(button('Logs of execution 5')).not.toBeNull();
    expect(button('Logs of execution 1')).not.toBeNull();
  });

  it('schedules a job and shows the next run', async () => {
    await open('alice', 'DATA_OWNER');
    button('Schedule etl')!.click();
    type(await dialogField('.hwl-schedule-form-cron'), '*/5 * * * *');
    (await dialogField('.hwl-schedule-form-overlap')).click();
    dialogButton('Save')!.click();

    await waitFor(() => q(row('etl')!, '.hwl-job-schedule'));
    const puts = fake.find('PUT', '/api/projects/demo/jobs/etl/schedule');
    expect(puts).toHaveLength(1);
    expect(JSON.parse(puts[0].body)).toEqual({
      cron: '*/5 * * * *',
      enabled: true,
      allow_overlap: true,
      catch_up: false
    });
    expect(q(row('etl')!, '.hwl-job-schedule')?.textContent).toContain(
      '*/5 * * * *'
    );
    expect(q(row('etl')!, '.hwl-job-next')?.textContent).toContain('next');
  });

  it("edits a job's program and default arguments", async () => {
    await open('alice', 'DATA_OWNER');
    button('Edit train')!.click();
    const path = await dialogField('.hwl-job-form-path');
    expect(path.value).toBe('Resources/train.py');
    // the name is not editable
    expect(document.querySelector('.jp-Dialog .hwl-job-form-name')).toBeNull();
    const args = await dialogField('.hwl-job-form-args');
    expect(args.value).toBe('--epochs 3');
    type(path, 'Jupyter/train.ipynb');
    type(args, 'epochs=10');
    dialogButton('Save')!.click();

    await waitFor(() => row('train')?.textContent?.includes('train.ipynb'));
    const puts = fake.find('PUT', '/api/projects/demo/jobs/train');
    expect(puts).toHaveLength(1);
    expect(JSON.parse(puts[0].body)).toEqual({
      type: 'PYTHON',
      config: { app_path: 'Jupyter/train.ipynb', args: ['epochs=10'] }
    });
  });

  it('deletes a job after confirming', async () => {
    await open('alice', 'DATA_OWNER');
    button('Delete etl')!.click();
    await waitFor(() => document.querySelector('.jp-Dialog .jp-mod-warn'));
    expect(document.querySelector('.jp-Dialog')?.textContent).toContain(
      'Its logs stay in the Logs dataset'
    );
    document
      .querySelector<HTMLButtonElement>('.jp-Dialog .jp-mod-warn')!
      .click();
    await waitFor(() => row('etl') === null);
    expect(fake.find('DELETE', '/api/projects/demo/jobs/etl')).toHaveLength(1);
    expect(row('train')).not.toBeNull();
  });
});

describe('The log viewer', () => {
  let fake: FakeServer;
  let widget: JobLogWidget;

  afterEach(() => {
    widget.dispose();
    fake.restore();
  });

  it('tails stdout and stderr from the offsets until the execution ends', async () => {
    // what the execution writes, in steps; each read returns what is there
    const out = ['epoch 1\n', 'epoch 2\n', 'done\n'];
    let written = 1;
    let state: Execution['state'] = 'RUNNING';
    fake = new FakeServer()
      .on(
        'GET',
        /^\/api\/projects\/demo\/jobs\/train\/executions\/3\/logs\/(stdout|stderr)$/,
        (request, match) => {
          const stream = match[1];
          const all =
            stream === 'stdout' ? out.slice(0, written).join('') : 'warning\n';
          const offset = Number(request.query.get('offset') ?? 0);
          const text = all.slice(offset);
          if (stream === 'stdout' && written < out.length) {
            written++;
          } else if (stream === 'stdout') {
            state = 'FINISHED';
          }
          return {
            body: {
              stream,
              offset,
              next_offset: offset + text.length,
              size: all.length,
              text,
              complete: state === 'FINISHED'
            }
          };
        }
      )
      .on('GET', '/api/projects/demo/jobs/train/executions/3', () => ({
        body: execution(3, 'train', state)
      }))
      .install();
    const model = new JobLogModel({
      client: new HopsworksModel().client,
      project: 'demo',
      job: 'train',
      execution: 3,
      pollInterval: 10
    });
    widget = new JobLogWidget(model);
    Widget.attach(widget, document.body);
    model.start();

    const root = '.hwl-job-log[data-execution="3"]';
    await waitFor(() =>
      document.querySelector(`${root} .hwl-job-log-body[data-done="true"]`)
    );
    const pre = document.querySelector(`${root} pre`)!;
    expect(pre.textContent).toBe('epoch 1\nepoch 2\ndone\n');
    expect(document.querySelectorAll(`${root} pre`)).toHaveLength(1);
    await waitFor(() =>
      document.querySelector(`${root} [data-state="FINISHED"]`)
    );

    const reads = fake
      .find('GET', /\/executions\/3\/logs\/stdout$/)
      .map(r => Number(r.query.get('offset')));
    expect(reads[0]).toBe(0);
    expect(reads).toContain('epoch 1\n'.length);
    expect(reads[reads.length - 1]).toBe('epoch 1\nepoch 2\n'.length);
    const count = fake.requests.length;
    await sleep(80);
    expect(fake.requests).toHaveLength(count);

    document
      .querySelector<HTMLButtonElement>(`${root} button[data-stream="stderr"]`)!
      .click();
    await waitFor(
      () =>
        document.querySelector(`${root} pre`)?.getAttribute('data-stream') ===
        'stderr'
    );
    expect(document.querySelector(`${root} pre`)?.textContent).toBe(
      'warning\n'
    );
  });

  it('stops reading when closed', async () => {
    let reads = 0;
    fake = new FakeServer()
      .on('GET', /\/logs\/(stdout|stderr)$/, (request, match) => {
        reads++;
        const offset = Number(request.query.get('offset') ?? 0);
        return {
          body: {
            stream: match[1],
            offset,
            next_offset: offset,
            size: offset,
            text: '',
            complete: false
          }
        };
      })
      .on('GET', '/api/projects/demo/jobs/train/executions/4', () => ({
        body: execution(4, 'train', 'RUNNING')
      }))
      .install();
    const model = new JobLogModel({
      client: new HopsworksModel().client,
      project: 'demo',
      job: 'train',
      execution: 4,
      pollInterval: 10
    });
    widget = new JobLogWidget(model);
    Widget.attach(widget, document.body);
    model.start();
    await waitFor(() => reads >= 4);
    widget.dispose();
    expect(model.isDisposed).toBe(true);
    await sleep(20);
    const after = reads;
    await sleep(60);
    expect(reads).toBe(after);
  });
});
