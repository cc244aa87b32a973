import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';

import { APIError } from './api';
import { describeError, notifyError } from './feedback';
import type { IActiveSectionModel } from './sidebar';

/**
 * How much longer a {@link FollowingModel} waits after a failed round than
 * after one that worked: a server in trouble is not asked every second.
 */
export const RETRY_FACTOR = 5;

/**
 * Whether a failed request will fail again however often it is repeated:
 * the subject is gone (404) or the user may not read it (401, 403).
 */
export function isFinalError(error: unknown): boolean {
  return (
    error instanceof APIError &&
    (error.status === 401 || error.status === 403 || error.status === 404)
  );
}

/**
 * A model whose state is replaced (never mutated) and emitted on each
 * change, and which polls with at most one timer pending. Disposing it
 * stops the timer and disconnects its signal's listeners, so a closed view
 * sends no more requests.
 */
export abstract class PollingModel<S> {
  constructor(state: S, pollInterval: number) {
    this._state = state;
    this.pollInterval = pollInterval;
  }

  get state(): S {
    return this._state;
  }

  get stateChanged(): ISignal<this, S> {
    return this._stateChanged;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.cancelPoll();
    Signal.clearData(this);
  }

  /**
   * How often (ms) to poll while there is something to follow.
   */
  protected readonly pollInterval: number;

  /**
   * One round of polling (what the timer runs).
   */
  protected abstract poll(): Promise<void>;

  protected setState(state: S): void {
    this._state = state;
    this._stateChanged.emit(state);
  }

  /**
   * Whether a round is already waiting for its timer.
   */
  protected get pollPending(): boolean {
    return this._timer !== null;
  }

  /**
   * Run {@link poll} in `delay` ms.
   */
  protected pollAfter(delay: number): void {
    this._timer = window.setTimeout(() => {
      this._timer = null;
      void this.poll();
    }, delay);
  }

  /**
   * Drop the pending round, if any.
   */
  protected cancelPoll(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _disposed = false;
  private _state: S;
  private _stateChanged = new Signal<this, S>(this);
  private _timer: number | null = null;
}

/**
 * What every sidebar section loading a project's data shows.
 */
export interface ISectionState {
  /**
   * The project whose data is loaded (null: none).
   */
  project: string | null;
  loading: boolean;
  /**
   * Why the latest load failed.
   */
  error: string | null;
  /**
   * A change is being sent: the controls wait.
   */
  busy: boolean;
}

/**
 * The model of an {@link ActiveSectionWidget}: it loads the active
 * project's data, keeps only the latest load's answer (a slow answer for
 * the project left behind must not overwrite the new one), notifies a
 * failure once rather than on every refresh that fails the same way, and,
 * while something listed is still going and the section is visible,
 * reloads every `pollInterval` ms.
 */
export abstract class SectionModel<S extends ISectionState>
  extends PollingModel<S>
  implements IActiveSectionModel
{
  /**
   * Reload the data of `project`; only the latest load's answer is kept.
   */
  async load(project: string | null): Promise<void> {
    const generation = ++this._generation;
    if (project !== this.state.project) {
      this.setState(this.empty(project));
    }
    if (project === null) {
      return;
    }
    const previous = this.state.error;
    this.setState({ ...this.state, loading: true });
    try {
      const loaded = await this.fetch(project);
      if (generation !== this._generation) {
        return;
      }
      this.setState({ ...this.state, ...loaded, loading: false, error: null });
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      const message = describeError(error);
      if (message !== previous) {
        notifyError(message);
      }
      this.setState({ ...this.state, loading: false, error: message });
    }
    this.schedule();
  }

  /**
   * Reload the active project.
   */
  reload(): Promise<void> {
    return this.load(this.state.project);
  }

  /**
   * Poll only while the section can be seen.
   */
  setActive(active: boolean): void {
    this._active = active;
    if (active) {
      this.schedule();
    } else {
      this.cancelPoll();
    }
  }

  /**
   * The state of `project` before anything is loaded.
   */
  protected abstract empty(project: string | null): S;

  /**
   * Read the data of `project`: what changes in the state. It runs after
   * the `loading` state was emitted, so it may read what the user opened.
   */
  protected abstract fetch(project: string): Promise<Partial<S>>;

  /**
   * Whether something shown is still going, so the section should poll.
   */
  protected abstract needsPolling(): boolean;

  /**
   * A round of polling reloads the project (the load schedules the next).
   */
  protected poll(): Promise<void> {
    return this.reload();
  }

  /**
   * Start the next round, unless one is pending, the section is hidden or
   * nothing is going.
   */
  protected schedule(): void {
    if (
      this.isDisposed ||
      !this._active ||
      this.pollPending ||
      !this.needsPolling()
    ) {
      return;
    }
    this.pollAfter(this.pollInterval);
  }

  /**
   * The number of the latest load: a read started under another number
   * belongs to a load that was overtaken, and its answer is dropped.
   */
  protected get generation(): number {
    return this._generation;
  }

  /**
   * Send one change with the controls waiting; reload when it worked,
   * notify when not. False without an active project, while another change
   * is under way or when the server refused.
   */
  protected async sendChange(
    send: (project: string) => Promise<unknown>
  ): Promise<boolean> {
    const project = this.state.project;
    if (project === null || this.state.busy) {
      return false;
    }
    this.setState({ ...this.state, busy: true });
    let ok = true;
    try {
      await send(project);
    } catch (error) {
      ok = false;
      notifyError(describeError(error));
    }
    if (ok && this.state.project === project) {
      await this.load(project);
    }
    if (this.state.project === project) {
      this.setState({ ...this.state, busy: false });
    }
    return ok;
  }

  private _active = false;
  private _generation = 0;
}

/**
 * What a round of a {@link FollowingModel} says comes next: another round
 * after `pollInterval`, one after a failure (`RETRY_FACTOR` times later),
 * or none (the subject ended, or cannot be read).
 */
export type RoundResult = 'again' | 'retry' | 'stop';

/**
 * What a main-area view needs of the model it follows.
 */
export interface IFollowingModel {
  start(): void;
  dispose(): void;
}

/**
 * The model of a main-area view that follows one subject (an execution's
 * logs, a run's trials): from {@link start} it reads in rounds while the
 * subject runs and stops when it ends or the view is closed (disposed).
 */
export abstract class FollowingModel<S>
  extends PollingModel<S>
  implements IFollowingModel
{
  /**
   * Start following (once).
   */
  start(): void {
    if (this._started || this.isDisposed) {
      return;
    }
    this._started = true;
    void this.poll();
  }

  /**
   * Read what is new; say whether and when to read again.
   */
  protected abstract round(): Promise<RoundResult>;

  protected async poll(): Promise<void> {
    const next = await this.round();
    if (this.isDisposed || next === 'stop') {
      return;
    }
    this.pollAfter(
      next === 'again' ? this.pollInterval : this.pollInterval * RETRY_FACTOR
    );
  }

  private _started = false;
}

/**
 * The content of a main-area view of a {@link FollowingModel}: closing the
 * view disposes the model, which stops its polling.
 */
export abstract class FollowingView<
  M extends IFollowingModel
> extends ReactWidget {
  constructor(model: M) {
    super();
    this.model = model;
  }

  readonly model: M;

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.dispose();
    super.dispose();
  }
}

/**
 * Show the main-area view `id`: the one already open, activated (and
 * passed to `reopen`), so a subject has one view; or else the one `create`
 * makes, added to the main area, activated, then its model started.
 * `open` holds the views open, by id; a view leaves it when disposed.
 */
export function openFollowingView<
  W extends MainAreaWidget<FollowingView<IFollowingModel>>
>(
  app: JupyterFrontEnd,
  open: Map<string, W>,
  id: string,
  create: () => W,
  reopen?: (widget: W) => void
): W {
  const current = open.get(id);
  if (current !== undefined && !current.isDisposed) {
    app.shell.activateById(id);
    reopen?.(current);
    return current;
  }
  const widget = create();
  open.set(id, widget);
  widget.disposed.connect(() => open.delete(id));
  app.shell.add(widget, 'main');
  app.shell.activateById(id);
  widget.content.model.start();
  return widget;
}
