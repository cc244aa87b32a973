import type { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, Notification } from '@jupyterlab/apputils';
import { nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import {
  Experiment,
  ExperimentDetail,
  ExperimentsPanel,
  formatMetric,
  tensorBoardOpener,
  Trial
} from '../experiments';
import {
  ExperimentRunWidget,
  openExperiment,
  sortTrials,
  trialColumns
} from '../experimentView';
import { bestSoFar, metricPoints, thin } from '../metricChart';
import { HopsworksModel } from '../panel';
import { HopsworksSidebar } from '../sidebar';
import { TENSORBOARD_SANDBOX, TensorBoardWidget } from '../tensorboard';
import { FakeServer, waitFor } from './fakeServer';
import { q, sleep } from './dom';

const T = '2024-01-01T00:00:00Z';
const trans = nullTranslator.load('hopsworks_lab');

function trial(
  index: number,
  state: Trial['state'],
  extra: Partial<Trial> = {}
): Trial {
  const name = `trial_${String(index).padStart(4, '0')}`;
  return {
    trial: name,
    index,
    params: {},
    state,
    metric: null,
    metrics: {},
    history: [],
    started_at: T,
    finished_at: null,
    duration_s: null,
    error: null,
    outputs: [],
    ...extra
  };
}

function experiment(
  id: number,
  name: string,
  extra: Partial<Experiment> = {}
): Experiment {
  return {
    id,
    project: 'demo',
    name,
    run: `${id}_${name}`,
    path: `Experiments/${id}_${name}`,
    description: '',
    kind: 'grid_search',
    direction: 'max',
    optimization_key: 'accuracy',
    state: 'FINISHED',
    user: 'alice',
    created_at: T,
    finished_at: '2024-01-01T00:02:05Z',
    duration_s: 125,
    best_trial: null,
    best_metric: null,
    error: null,
    space: {},
    trials_total: null,
    counts: { RUNNING: 0, FINISHED: 0, FAILED: 0, EARLY_STOPPED: 0 },
    ...extra
  };
}

/**
 * A grid search over lr × layers: four finished trials, one failed with a
 * traceback, one stopped early; intermediate metrics for two.
 */
function gridTrials(): Trial[] {
  const at = (s: number) => `2024-01-01T00:01:${String(s).padStart(2, '0')}Z`;
  return [
    trial(0, 'FINISHED', {
      params: { lr: 0.1, layers: 2 },
      metric: 0.81,
      metrics: { accuracy: 0.81, loss: 0.52 },
      finished_at: at(30),
      duration_s: 30,
      history: [
        [0, 0.5],
        [1, 0.7],
        [2, 0.81]
      ]
    }),
    trial(1, 'FINISHED', {
      params: { lr: 0.01, layers: 2 },
      metric: 0.93,
      finished_at: at(10),
      duration_s: 10,
      outputs: ['model.pt']
    }),
    trial(2, 'FAILED', {
      params: { lr: 0.1, layers: 4 },
      error:
        'Traceback (most recent call last):\n  File "train.py", line 3\nValueError: lr too high',
      finished_at: at(5),
      duration_s: 5
    }),
    trial(3, 'EARLY_STOPPED', {
      params: { lr: 0.01, layers: 4 },
      metric: 0.42,
      finished_at: at(20),
      duration_s: 20,
      history: [
        [0, 0.3],
        [1, 0.42]
      ]
    }),
    trial(4, 'FINISHED', {
      params: { lr: 0.001, layers: 2 },
      metric: 0.88,
      finished_at: at(40),
      duration_s: 40
    })
  ];
}

/**
 * Project demo's runs as the platform keeps them: reads answer from the
 * current state, changes change it.
 */
class World {
  experiments: ExperimentDetail[] = [
    {
      ...experiment(3, 'mnist', {
        kind: 'random_search',
        state: 'RUNNING',
        finished_at: null,
        duration_s: null,
        best_trial: 'trial_0000',
        best_metric: 0.9,
        trials_total: 10,
        counts: { RUNNING: 2, FINISHED: 1, FAILED: 0, EARLY_STOPPED: 0 }
      }),
      trials: [
        trial(0, 'FINISHED', {
          params: { lr: 0.1 },
          metric: 0.9,
          finished_at: '2024-01-01T00:00:30Z'
        }),
        trial(1, 'RUNNING', { params: { lr: 0.2 } })
      ]
    },
    {
      ...experiment(2, 'grid', {
        best_trial: 'trial_0001',
        best_metric: 0.93,
        space: { lr: [0.1, 0.01, 0.001], layers: [2, 4] },
        trials_total: 6,
        counts: { RUNNING: 0, FINISHED: 3, FAILED: 1, EARLY_STOPPED: 1 }
      }),
      trials: gridTrials()
    },
    {
      ...experiment(1, 'first', {
        kind: 'launch',
        direction: null,
        optimization_key: null,
        state: 'FAILED',
        error: 'Traceback ...\nRuntimeError: no data',
        counts: { RUNNING: 0, FINISHED: 0, FAILED: 1, EARLY_STOPPED: 0 }
      }),
      trials: []
    }
  ];

  find(id: string): ExperimentDetail | undefined {
    return this.experiments.find(e => String(e.id) === id);
  }

  server(): FakeServer {
    const one = /^\/api\/projects\/demo\/experiments\/(\d+)$/;
    return new FakeServer()
      .json('GET', '/api/users/me', {
        username: 'alice',
        email: null,
        is_admin: false,
        status: 'active',
        totp_enabled: false,
        created_at: T
      })
      .json('GET', '/api/projects', {
        count: 1,
        items: [
          {
            name: 'demo',
            description: '',
            owner: 'alice',
            created_at: T,
            role: 'DATA_SCIENTIST'
          }
        ]
      })
      .on('GET', '/api/projects/demo/experiments', () => ({
        body: {
          items: this.experiments.map(e => {
            // the list carries no trials
            const { trials, ...rest } = e;
            void trials;
            return rest;
          })
        }
      }))
      .on('GET', one, (_, match) => {
        const found = this.find(match[1]);
        return found
          ? { body: found }
          : { status: 404, body: { error: 'not_found', message: 'no run' } };
      })
      .on('PATCH', one, (request, match) => {
        const found = this.find(match[1])!;
        Object.assign(found, JSON.parse(request.body));
        return { body: found };
      })
      .on('DELETE', one, (_, match) => {
        this.experiments = this.experiments.filter(
          e => String(e.id) !== match[1]
        );
        return { status: 204 };
      })
      .on('POST', '/tensorboard', request => {
        const body = JSON.parse(request.body);
        return {
          body: {
            id: 'tb1',
            project: body.project,
            run: body.run,
            url: `/proxy/tensorboard/tb1/`,
            started_at: T,
            last_activity: T
          }
        };
      });
  }
}

/**
 * The part of the application the views use: the shell, attaching what is
 * added to the page.
 */
function fakeApp(): {
  app: JupyterFrontEnd;
  added: Widget[];
} {
  const added: Widget[] = [];
  const app = {
    shell: {
      add: (widget: Widget) => {
        added.push(widget);
        Widget.attach(widget, document.body);
      },
      activateById: jest.fn()
    }
  } as unknown as JupyterFrontEnd;
  return { app, added };
}

function warnButton(): Promise<HTMLButtonElement> {
  return waitFor(() =>
    document.querySelector<HTMLButtonElement>('.jp-Dialog .jp-mod-warn')
  );
}

describe('Trial helpers', () => {
  it('sorts by any column, trials without a value last', () => {
    const trials = gridTrials();
    const columns = trialColumns(
      { trials, optimization_key: 'accuracy' },
      trans
    );
    expect(columns.map(c => c.key)).toEqual([
      'trial',
      'state',
      'param:lr',
      'param:layers',
      'metric',
      'duration'
    ]);
    const names = (column: string, descending: boolean) =>
      sortTrials(trials, columns, { column, descending }).map(t => t.index);
    expect(names('metric', true)).toEqual([1, 4, 0, 3, 2]);
    expect(names('metric', false)).toEqual([3, 0, 4, 1, 2]);
    expect(names('param:lr', false)).toEqual([4, 1, 3, 0, 2]);
    expect(names('duration', false)).toEqual([2, 1, 3, 0, 4]);
    expect(names('state', false)).toEqual([3, 2, 0, 1, 4]);
    expect(names('trial', true)).toEqual([4, 3, 2, 1, 0]);
  });

  it('charts trials in the order they finished with the best so far', () => {
    const points = metricPoints(gridTrials());
    // the failed trial has no metric
    expect(points.map(p => p.index)).toEqual([1, 3, 0, 4]);
    expect(bestSoFar(points, 'max').map(([, v]) => v)).toEqual([
      0.93, 0.93, 0.93
    ]);
    expect(bestSoFar(points, 'min').map(([, v]) => v)).toEqual([
      0.93, 0.81, 0.81
    ]);
    const many = Array.from({ length: 1000 }, (_, i) => i);
    const kept = thin(many, 200);
    expect(kept.length).toBeLessThanOrEqual(201);
    expect(kept[kept.length - 1]).toBe(999);
    expect(formatMetric(0.123456)).toBe('0.1235');
    expect(formatMetric(null)).toBe('—');
  });
});

describe('The Experiments section', () => {
  let world: World;
  let fake: FakeServer;
  let sidebar: HopsworksSidebar;
  let panel: ExperimentsPanel;
  let openRun: jest.Mock;
  let openTensorBoard: jest.Mock;
  let notifyError: jest.SpyInstance;

  beforeEach(() => {
    world = new World();
    openRun = jest.fn();
    openTensorBoard = jest.fn();
    notifyError = jest.spyOn(Notification, 'error');
  });

  afterEach(() => {
    Dialog.flush();
    sidebar.dispose();
    fake.restore();
    jest.restoreAllMocks();
  });

  async function open() {
    fake = world.server().install();
    const model = new HopsworksModel();
    sidebar = new HopsworksSidebar({ model, client: model.client });
    panel = new ExperimentsPanel({
      sidebar,
      openRun,
      openTensorBoard,
      pollInterval: 10
    });
    sidebar.addSection(panel, 700);
    Widget.attach(sidebar, document.body);
    sidebar.refresh();
    await waitFor(() => q(panel.node, '.hwl-experiment[data-experiment]'));
  }

  function row(run: string): HTMLElement | null {
    return q(panel.node, `.hwl-experiment[data-run="${run}"]`);
  }

  function button(label: string): HTMLButtonElement | null {
    return q<HTMLButtonElement>(panel.node, `button[aria-label="${label}"]`);
  }

  it('lists the runs newest first with state, duration, best metric and trial counts', async () => {
    await open();
    expect(
      Array.from(panel.node.querySelectorAll('.hwl-experiment')).map(r =>
        r.getAttribute('data-run')
      )
    ).toEqual(['3_mnist', '2_grid', '1_first']);
    const grid = row('2_grid')!;
    expect(grid.getAttribute('data-state')).toBe('FINISHED');
    expect(q(grid, '.hwl-experiment-kind')?.textContent).toBe('grid_search');
    expect(q(grid, '.hwl-experiment-duration')?.textContent).toBe('2 min 5 s');
    expect(q(grid, '.hwl-experiment-best')?.textContent).toBe(
      'best accuracy 0.93 (trial_0001)'
    );
    expect(q(grid, '.hwl-experiment-counts')?.textContent).toBe(
      '3 done · 1 failed · 1 early-stopped (of 6)'
    );
    const running = row('3_mnist')!;
    expect(q(running, '.hwl-status')?.textContent).toBe('RUNNING');
    expect(q(running, '.hwl-experiment-counts')?.textContent).toContain(
      '2 running'
    );
    // a running run is killed, not deleted; an ended one is deleted
    expect(button('Kill 3_mnist')).not.toBeNull();
    expect(button('Delete 3_mnist')).toBeNull();
    expect(button('Kill 2_grid')).toBeNull();
    expect(button('Delete 2_grid')).not.toBeNull();
    expect(q(row('1_first')!, '.hwl-experiment-error')?.textContent).toBe(
      'RuntimeError: no data'
    );

    button('Open 2_grid')!.click();
    expect(openRun).toHaveBeenCalledWith(
      'demo',
      expect.objectContaining({ id: 2, run: '2_grid' })
    );
    button('Open TensorBoard for 2_grid')!.click();
    expect(openTensorBoard).toHaveBeenCalledWith('demo', '2_grid');
  });

  it('polls while a run is running and stops when none is', async () => {
    await open();
    const reads = () => fake.find('GET', '/api/projects/demo/experiments');
    await waitFor(() => reads().length >= 3);
    world.experiments[0].state = 'FINISHED';
    await waitFor(
      () => row('3_mnist')?.getAttribute('data-state') === 'FINISHED'
    );
    await sleep(30);
    const count = reads().length;
    await sleep(80);
    expect(reads()).toHaveLength(count);
  });

  it('kills a running run after confirming, and shows a refusal', async () => {
    await open();
    fake.json(
      'PATCH',
      '/api/projects/demo/experiments/3',
      {
        error: 'forbidden',
        message: 'only the creator or a Data Owner may stop run 3_mnist'
      },
      403
    );
    button('Kill 3_mnist')!.click();
    (await warnButton()).click();
    await waitFor(() => notifyError.mock.calls.length > 0);
    expect(notifyError.mock.calls[0][0]).toContain(
      'only the creator or a Data Owner'
    );
    expect(row('3_mnist')?.getAttribute('data-state')).toBe('RUNNING');

    // the server accepts now
    fake.on('PATCH', /^\/api\/projects\/demo\/experiments\/(\d+)$/, request => {
      Object.assign(world.experiments[0], JSON.parse(request.body));
      return { body: world.experiments[0] };
    });
    await waitFor(() => !button('Kill 3_mnist')?.disabled);
    button('Kill 3_mnist')!.click();
    (await warnButton()).click();
    await waitFor(
      () => row('3_mnist')?.getAttribute('data-state') === 'KILLED'
    );
    const patches = fake.find('PATCH', '/api/projects/demo/experiments/3');
    expect(patches).toHaveLength(2);
    expect(JSON.parse(patches[1].body)).toEqual({ state: 'KILLED' });
    expect(button('Delete 3_mnist')).not.toBeNull();
  });

  it('deletes a run after confirming, and shows a refusal', async () => {
    await open();
    button('Delete 2_grid')!.click();
    const dialog = await waitFor(() => document.querySelector('.jp-Dialog'));
    expect(dialog.textContent).toContain('Experiments/2_grid');
    (await warnButton()).click();
    await waitFor(() => row('2_grid') === null);
    expect(
      fake.find('DELETE', '/api/projects/demo/experiments/2')
    ).toHaveLength(1);

    fake.json(
      'DELETE',
      '/api/projects/demo/experiments/1',
      { error: 'forbidden', message: 'you did not create run 1_first' },
      403
    );
    await waitFor(() => !button('Delete 1_first')?.disabled);
    button('Delete 1_first')!.click();
    (await warnButton()).click();
    await waitFor(() => notifyError.mock.calls.length > 0);
    expect(notifyError.mock.calls[0][0]).toContain(
      'you did not create run 1_first'
    );
    expect(row('1_first')).not.toBeNull();

    // cancelling sends nothing
    button('Delete 1_first')!.click();
    await waitFor(() => document.querySelector('.jp-Dialog'));
    Array.from(
      document.querySelectorAll<HTMLButtonElement>('.jp-Dialog button')
    )
      .find(b => b.textContent?.trim() === 'Cancel')!
      .click();
    await waitFor(() => document.querySelector('.jp-Dialog') === null);
    expect(
      fake.find('DELETE', '/api/projects/demo/experiments/1')
    ).toHaveLength(1);
  });
});

describe("A run's view", () => {
  let world: World;
  let fake: FakeServer;
  let widget: ExperimentRunWidget;
  let openTensorBoard: jest.Mock;

  beforeEach(() => {
    world = new World();
    fake = world.server().install();
    openTensorBoard = jest.fn();
  });

  afterEach(() => {
    widget.dispose();
    fake.restore();
  });

  function show(id: number, run: string): ExperimentRunWidget {
    const { app } = fakeApp();
    return openExperiment(app, {
      client: new HopsworksModel().client,
      project: 'demo',
      experiment: id,
      run,
      openTensorBoard,
      pollInterval: 10
    });
  }

  function rows(root: HTMLElement): string[] {
    return Array.from(root.querySelectorAll('tr.hwl-trial')).map(r =>
      r.getAttribute('data-trial')!
    );
  }

  it('shows the trials sortable by any column, the best one highlighted', async () => {
    widget = show(2, '2_grid');
    const root = widget.node;
    await waitFor(() => q(root, 'tr.hwl-trial'));
    expect(widget.title.label).toBe('2_grid');
    expect(
      Array.from(root.querySelectorAll('.hwl-trials th')).map(th =>
        th.getAttribute('data-column')
      )
    ).toEqual([
      'trial',
      'state',
      'param:lr',
      'param:layers',
      'metric',
      'duration'
    ]);
    expect(q(root, '.hwl-trials th[data-column="metric"]')?.textContent).toBe(
      'accuracy'
    );
    expect(rows(root)).toEqual([
      'trial_0000',
      'trial_0001',
      'trial_0002',
      'trial_0003',
      'trial_0004'
    ]);
    const best = q(root, 'tr.hwl-trial-best')!;
    expect(best.getAttribute('data-trial')).toBe('trial_0001');
    expect(q(best, '.hwl-trial-best-badge')).not.toBeNull();
    const lr = q(
      root,
      'tr[data-trial="trial_0004"] td[data-column="param:lr"]'
    );
    expect(lr?.textContent).toBe('0.001');

    // the metric sorts best first (direction max), then the other way
    q<HTMLButtonElement>(root, 'th[data-column="metric"] button')!.click();
    await waitFor(() => rows(root)[0] === 'trial_0001');
    expect(rows(root)).toEqual([
      'trial_0001',
      'trial_0004',
      'trial_0000',
      'trial_0003',
      'trial_0002'
    ]);
    expect(q(root, 'th[data-column="metric"]')?.getAttribute('aria-sort')).toBe(
      'descending'
    );
    q<HTMLButtonElement>(root, 'th[data-column="metric"] button')!.click();
    await waitFor(() => rows(root)[0] === 'trial_0003');
    // no metric: last either way
    expect(rows(root)[4]).toBe('trial_0002');

    q<HTMLButtonElement>(
      root,
      'th[data-column="param:layers"] button'
    )!.click();
    await waitFor(
      () =>
        q(root, 'th[data-column="param:layers"]')?.getAttribute('aria-sort') ===
        'ascending'
    );
    expect(rows(root)).toEqual([
      'trial_0000',
      'trial_0001',
      'trial_0004',
      'trial_0002',
      'trial_0003'
    ]);

    // the run ended: nothing more is read
    const count = fake.requests.length;
    await sleep(60);
    expect(fake.requests).toHaveLength(count);
  });

  it('charts one point per trial with a metric, coloured by state, and the intermediate metrics', async () => {
    widget = show(2, '2_grid');
    const root = widget.node;
    await waitFor(() => q(root, 'svg.hwl-metric-chart'));
    const points = Array.from(
      root.querySelectorAll('svg.hwl-metric-chart circle.hwl-chart-point')
    );
    expect(points).toHaveLength(4);
    expect(points.map(p => p.getAttribute('data-trial'))).toEqual([
      'trial_0001',
      'trial_0003',
      'trial_0000',
      'trial_0004'
    ]);
    expect(points[1].getAttribute('class')).toContain(
      'hwl-chart-early-stopped'
    );
    expect(points[0].getAttribute('class')).toContain('hwl-chart-best');
    // a better metric is drawn higher (smaller y)
    const cy = (i: number) => Number(points[i].getAttribute('cy'));
    expect(cy(0)).toBeLessThan(cy(2));
    expect(cy(2)).toBeLessThan(cy(1));
    const lines = Array.from(
      root.querySelectorAll('svg.hwl-history-chart polyline.hwl-chart-line')
    );
    expect(lines.map(l => l.getAttribute('data-trial'))).toEqual([
      'trial_0000',
      'trial_0003'
    ]);
    expect(lines[0].getAttribute('points')!.split(' ')).toHaveLength(3);
  });

  it("expands a failed trial's traceback and marks the early-stopped one", async () => {
    widget = show(2, '2_grid');
    const root = widget.node;
    await waitFor(() => q(root, 'tr.hwl-trial'));
    expect(q(root, '.hwl-trial-traceback')).toBeNull();
    q<HTMLButtonElement>(
      root,
      'button[aria-label="Traceback of trial_0002"]'
    )!.click();
    const traceback = await waitFor(() => q(root, 'pre.hwl-trial-traceback'));
    expect(traceback.textContent).toContain('ValueError: lr too high');
    expect(
      q(root, 'tr[data-trial="trial_0002"]')?.getAttribute('data-state')
    ).toBe('FAILED');

    const early = q(root, 'tr[data-trial="trial_0003"]')!;
    expect(early.classList).toContain('hwl-trial-early-stopped');
    expect(q(early, '.hwl-status')?.getAttribute('title')).toContain(
      'Stopped early'
    );

    // a finished trial's details: its other metrics and files
    q<HTMLButtonElement>(
      root,
      'button[aria-label="Details of trial_0001"]'
    )!.click();
    await waitFor(() =>
      q(root, 'tr.hwl-trial-details[data-trial="trial_0001"]')
    );
    expect(
      q(root, 'tr.hwl-trial-details[data-trial="trial_0001"]')?.textContent
    ).toContain('model.pt');
    q<HTMLButtonElement>(
      root,
      'button[aria-label="Traceback of trial_0002"]'
    )!.click();
    await waitFor(() => q(root, 'pre.hwl-trial-traceback') === null);

    q<HTMLButtonElement>(
      root,
      'button[aria-label="Open TensorBoard for 2_grid"]'
    )!.click();
    expect(openTensorBoard).toHaveBeenCalledWith('demo', '2_grid');
  });

  it('reads a running run again until it ends', async () => {
    widget = show(3, '3_mnist');
    const root = widget.node;
    await waitFor(() =>
      q(root, '.hwl-experiment-view-body[data-state="RUNNING"]')
    );
    expect(rows(root)).toEqual(['trial_0000', 'trial_0001']);
    expect(q(root, '.hwl-experiment-view-following')).not.toBeNull();

    const run = world.experiments[0];
    run.trials = [
      run.trials[0],
      trial(1, 'FINISHED', {
        params: { lr: 0.2 },
        metric: 0.95,
        finished_at: '2024-01-01T00:00:50Z'
      }),
      trial(2, 'FINISHED', {
        params: { lr: 0.3 },
        metric: 0.5,
        finished_at: '2024-01-01T00:01:00Z'
      })
    ];
    Object.assign(run, {
      state: 'FINISHED',
      best_trial: 'trial_0001',
      best_metric: 0.95,
      duration_s: 60
    });
    await waitFor(() => q(root, '.hwl-experiment-view-body[data-done="true"]'));
    expect(rows(root)).toHaveLength(3);
    expect(
      root.querySelectorAll('svg.hwl-metric-chart circle.hwl-chart-point')
    ).toHaveLength(3);
    expect(q(root, 'tr.hwl-trial-best')?.getAttribute('data-trial')).toBe(
      'trial_0001'
    );
    expect(q(root, '.hwl-experiment-view-following')).toBeNull();
    const count = fake.find('GET', '/api/projects/demo/experiments/3').length;
    await sleep(60);
    expect(fake.find('GET', '/api/projects/demo/experiments/3')).toHaveLength(
      count
    );
  });

  it('stops reading when closed', async () => {
    widget = show(3, '3_mnist');
    const reads = () => fake.find('GET', '/api/projects/demo/experiments/3');
    await waitFor(() => reads().length >= 3);
    widget.dispose();
    await sleep(20);
    const count = reads().length;
    await sleep(60);
    expect(reads()).toHaveLength(count);
  });
});

describe('Open TensorBoard', () => {
  let fake: FakeServer;
  let added: Widget[];

  afterEach(() => {
    added.forEach(w => w.dispose());
    fake.restore();
    jest.restoreAllMocks();
  });

  it("asks the lab server for the run's TensorBoard and shows it in a frame", async () => {
    fake = new World().server().install();
    const shown = fakeApp();
    added = shown.added;
    const open = tensorBoardOpener(shown.app, null);
    open('demo', '2_grid');
    const widget = (await waitFor(() => added[0])) as TensorBoardWidget;

    const posts = fake.find('POST', '/tensorboard');
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0].body)).toEqual({
      project: 'demo',
      run: '2_grid'
    });
    expect(posts[0].headers.get('Content-Type')).toBe('application/json');
    expect(widget).toBeInstanceOf(TensorBoardWidget);
    expect(widget.title.label).toBe('TensorBoard: 2_grid');
    expect(widget.content.url).toBe('/proxy/tensorboard/tb1/');
    const iframe = widget.node.querySelector('iframe')!;
    expect(iframe.getAttribute('src')).toBe('/proxy/tensorboard/tb1/');
    expect(iframe.getAttribute('sandbox')?.split(' ').sort()).toEqual(
      [...TENSORBOARD_SANDBOX].sort()
    );

    // a second click shows the same tab
    open('demo', '2_grid');
    await waitFor(() => fake.find('POST', '/tensorboard').length === 2);
    await sleep(10);
    expect(added).toHaveLength(1);
    expect(shown.app.shell.activateById).toHaveBeenCalledWith(widget.id);
  });

  it('notifies when the lab server refuses', async () => {
    fake = new World()
      .server()
      .json(
        'POST',
        '/tensorboard',
        { error: 'not_found', message: 'no run 9_gone in Experiments' },
        404
      )
      .install();
    const notifyError = jest.spyOn(Notification, 'error');
    const shown = fakeApp();
    added = shown.added;
    tensorBoardOpener(shown.app, null)('demo', '9_gone');
    await waitFor(() => notifyError.mock.calls.length > 0);
    expect(notifyError.mock.calls[0][0]).toContain(
      'Could not open TensorBoard for 9_gone'
    );
    expect(notifyError.mock.calls[0][0]).toContain('no run 9_gone');
    expect(added).toHaveLength(0);
  });
});
