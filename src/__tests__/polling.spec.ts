import type { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget, Notification } from '@jupyterlab/apputils';

import { APIError } from '../api';
import {
  FollowingModel,
  FollowingView,
  isFinalError,
  ISectionState,
  openFollowingView,
  RETRY_FACTOR,
  RoundResult,
  SectionModel
} from '../polling';
import { sleep } from './dom';

interface IItemsState extends ISectionState {
  items: string[] | null;
}

/**
 * A section model whose loads answer when the test says: each `fetch`
 * waits for the next answer pushed for its project.
 */
class ItemsModel extends SectionModel<IItemsState> {
  constructor(pollInterval = 10) {
    super(ItemsModel.emptyState(null), pollInterval);
  }

  static emptyState(project: string | null): IItemsState {
    return {
      project,
      items: null,
      loading: false,
      error: null,
      busy: false
    };
  }

  /**
   * The projects read, in order.
   */
  fetched: string[] = [];
  /**
   * Answer each read at once with these items (null: wait for `answer`).
   */
  immediate: string[] | Error | null = null;
  running = false;

  answer(result: string[] | Error): void {
    const next = this._pending.shift()!;
    if (result instanceof Error) {
      next.reject(result);
    } else {
      next.resolve(result);
    }
  }

  change(send: (project: string) => Promise<unknown>): Promise<boolean> {
    return this.sendChange(send);
  }

  protected empty(project: string | null): IItemsState {
    return ItemsModel.emptyState(project);
  }

  protected fetch(project: string): Promise<Partial<IItemsState>> {
    this.fetched.push(project);
    const immediate = this.immediate;
    if (immediate instanceof Error) {
      return Promise.reject(immediate);
    }
    if (immediate !== null) {
      return Promise.resolve({ items: [...immediate] });
    }
    return new Promise<string[]>((resolve, reject) =>
      this._pending.push({ resolve, reject })
    ).then(items => ({ items }));
  }

  protected needsPolling(): boolean {
    return this.running;
  }

  private _pending: {
    resolve: (items: string[]) => void;
    reject: (error: Error) => void;
  }[] = [];
}

describe('SectionModel', () => {
  let model: ItemsModel;

  beforeEach(() => {
    jest.spyOn(Notification, 'error').mockImplementation(() => '');
    model = new ItemsModel();
  });

  afterEach(() => {
    model.dispose();
    jest.restoreAllMocks();
  });

  it("keeps only the latest load's answer", async () => {
    const first = model.load('a');
    const second = model.load('b');
    expect(model.state.project).toBe('b');
    expect(model.state.loading).toBe(true);
    model.answer(['from a']);
    model.answer(['from b']);
    await Promise.all([first, second]);
    expect(model.fetched).toEqual(['a', 'b']);
    expect(model.state).toMatchObject({
      project: 'b',
      items: ['from b'],
      loading: false,
      error: null
    });
  });

  it('starts a new project empty and emits each state', async () => {
    model.immediate = ['x'];
    await model.load('a');
    const seen: (string[] | null)[] = [];
    model.stateChanged.connect((_, state) => seen.push(state.items));
    model.immediate = null;
    const load = model.load('b');
    expect(model.state.items).toBeNull();
    model.answer(['y']);
    await load;
    expect(seen).toEqual([null, null, ['y']]);
    await model.load(null);
    expect(model.state).toEqual(ItemsModel.emptyState(null));
  });

  it('notifies a failure once, not on every reload failing alike', async () => {
    model.immediate = new Error('down');
    await model.load('a');
    await model.reload();
    expect(model.state.error).toBe('down');
    expect(Notification.error).toHaveBeenCalledTimes(1);
    model.immediate = ['back'];
    await model.reload();
    expect(model.state).toMatchObject({ items: ['back'], error: null });
    model.immediate = new Error('down');
    await model.reload();
    expect(Notification.error).toHaveBeenCalledTimes(2);
  });

  it('polls while something runs and the section is active', async () => {
    model.immediate = ['job'];
    model.running = true;
    await model.load('a');
    await sleep(50);
    expect(model.fetched).toEqual(['a']); // not active yet

    model.setActive(true);
    await sleep(60);
    expect(model.fetched.length).toBeGreaterThanOrEqual(3);

    model.setActive(false);
    await sleep(30);
    const hidden = model.fetched.length;
    await sleep(50);
    expect(model.fetched.length).toBe(hidden);

    model.setActive(true);
    await sleep(30);
    expect(model.fetched.length).toBeGreaterThan(hidden);
    model.running = false;
    await sleep(30);
    const ended = model.fetched.length;
    await sleep(50);
    expect(model.fetched.length).toBe(ended);
  });

  it('stops polling when disposed', async () => {
    model.immediate = ['job'];
    model.running = true;
    model.setActive(true);
    await model.load('a');
    model.dispose();
    expect(model.isDisposed).toBe(true);
    const count = model.fetched.length;
    await sleep(50);
    expect(model.fetched.length).toBe(count);
  });

  it('sends one change at a time and reloads after it', async () => {
    model.immediate = ['before'];
    await model.load('a');
    let release!: () => void;
    const sent: string[] = [];
    const change = model.change(project => {
      sent.push(project);
      return new Promise<void>(resolve => (release = resolve));
    });
    expect(model.state.busy).toBe(true);
    expect(await model.change(() => Promise.resolve())).toBe(false);
    model.immediate = ['after'];
    release();
    expect(await change).toBe(true);
    expect(sent).toEqual(['a']);
    expect(model.state).toMatchObject({ busy: false, items: ['after'] });

    const fetched = model.fetched.length;
    expect(await model.change(() => Promise.reject(new Error('no')))).toBe(
      false
    );
    expect(Notification.error).toHaveBeenCalledWith('no', expect.anything());
    expect(model.fetched.length).toBe(fetched);
    expect(model.state.busy).toBe(false);
  });

  it('sends no change without a project', async () => {
    const send = jest.fn(() => Promise.resolve());
    expect(await model.change(send)).toBe(false);
    expect(send).not.toHaveBeenCalled();
  });
});

/**
 * A followed subject whose rounds answer from a script.
 */
class ScriptModel extends FollowingModel<{ rounds: number }> {
  constructor(
    private readonly _script: RoundResult[],
    pollInterval = 10
  ) {
    super({ rounds: 0 }, pollInterval);
  }

  times: number[] = [];

  protected async round(): Promise<RoundResult> {
    this.times.push(Date.now());
    this.setState({ rounds: this.state.rounds + 1 });
    return this._script.shift() ?? 'again';
  }
}

class ScriptView extends FollowingView<ScriptModel> {
  protected render(): null {
    return null;
  }
}

describe('FollowingModel', () => {
  it('reads in rounds from start until a round says stop', async () => {
    const model = new ScriptModel(['again', 'again', 'stop']);
    model.start();
    model.start();
    await sleep(80);
    expect(model.state.rounds).toBe(3);
    model.dispose();
  });

  it('waits longer after a failed round', async () => {
    const model = new ScriptModel(['retry', 'stop'], 10);
    model.start();
    await sleep(10 * RETRY_FACTOR + 60);
    expect(model.times).toHaveLength(2);
    expect(model.times[1] - model.times[0]).toBeGreaterThanOrEqual(
      10 * RETRY_FACTOR - 5
    );
    model.dispose();
  });

  it('stops when disposed (its view closed)', async () => {
    const model = new ScriptModel([]);
    const view = new ScriptView(model);
    model.start();
    await sleep(30);
    view.dispose();
    expect(model.isDisposed).toBe(true);
    const rounds = model.state.rounds;
    await sleep(50);
    expect(model.state.rounds).toBe(rounds);
    model.start();
    expect(model.state.rounds).toBe(rounds);
  });
});

describe('isFinalError', () => {
  it('is true for gone or refused, false for what may pass', () => {
    const error = (status: number) => new APIError(status, 'x', 'm');
    expect([401, 403, 404].map(s => isFinalError(error(s)))).toEqual([
      true,
      true,
      true
    ]);
    expect(isFinalError(error(500))).toBe(false);
    expect(isFinalError(new Error('network'))).toBe(false);
  });
});

describe('openFollowingView', () => {
  it('opens one view per id, started once, and reopens the open one', () => {
    const shell = { add: jest.fn(), activateById: jest.fn() };
    const app = { shell } as unknown as JupyterFrontEnd;
    const open = new Map<string, MainAreaWidget<ScriptView>>();
    const models: ScriptModel[] = [];
    const create = () => {
      const model = new ScriptModel(['stop']);
      models.push(model);
      const widget = new MainAreaWidget({ content: new ScriptView(model) });
      widget.id = 'view-1';
      return widget;
    };
    const reopen = jest.fn();

    const widget = openFollowingView(app, open, 'view-1', create, reopen);
    expect(shell.add).toHaveBeenCalledWith(widget, 'main');
    expect(shell.activateById).toHaveBeenCalledWith('view-1');
    expect(models[0].state.rounds).toBe(1); // started
    expect(reopen).not.toHaveBeenCalled();

    expect(openFollowingView(app, open, 'view-1', create, reopen)).toBe(widget);
    expect(models).toHaveLength(1);
    expect(reopen).toHaveBeenCalledWith(widget);
    expect(shell.add).toHaveBeenCalledTimes(1);

    widget.dispose();
    expect(models[0].isDisposed).toBe(true);
    expect(open.size).toBe(0);
    const again = openFollowingView(app, open, 'view-1', create);
    expect(again).not.toBe(widget);
    expect(models).toHaveLength(2);
    again.dispose();
  });
});
