import { IStateDB } from '@jupyterlab/statedb';
import { Token } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';

import type { ILabContext } from './api';

/**
 * The active project: what the panels of the extension work on.
 *
 * In a hub-spawned server it is the server's own project and cannot change
 * (`locked`); in a standalone lab the user picks it in the Hopsworks panel,
 * and the choice is remembered across reloads.
 */
export interface IProjectModel {
  /**
   * The active project's name, or null when there is none (yet).
   */
  readonly activeProject: string | null;
  /**
   * The server's mode, or null until the server's context is known.
   */
  readonly mode: ILabContext['mode'] | null;
  /**
   * Whether the active project is fixed (a hub-spawned server's project).
   */
  readonly locked: boolean;
  /**
   * Emitted with the new active project whenever it changes.
   */
  readonly changed: ISignal<IProjectModel, string | null>;
  /**
   * Make `project` the active one (ignored when `locked`).
   */
  select(project: string | null): void;
}

/**
 * The active project, provided by the `hopsworks-lab:plugin` plugin.
 */
export const IProjectModel = new Token<IProjectModel>(
  'hopsworks-lab:IProjectModel',
  "The active Hopsworks project: the server's own in a hub-spawned server, the one picked in the panel otherwise."
);

/**
 * The key of the remembered choice in the state database.
 */
export const ACTIVE_PROJECT_KEY = 'hopsworks-lab:active-project';

/**
 * The default {@link IProjectModel}.
 */
export class ProjectModel implements IProjectModel {
  constructor(options: ProjectModel.IOptions = {}) {
    this._state = options.state ?? null;
  }

  get activeProject(): string | null {
    return this._active;
  }

  get mode(): ILabContext['mode'] | null {
    return this._mode;
  }

  get locked(): boolean {
    return this._mode === 'hub';
  }

  get changed(): ISignal<this, string | null> {
    return this._changed;
  }

  /**
   * Apply the server's context: in hub mode its project becomes the active
   * one; standalone, the choice remembered from an earlier session is
   * restored (once).
   */
  async setContext(context: ILabContext): Promise<void> {
    this._mode = context.mode;
    if (context.mode === 'hub') {
      this._set(context.project);
      return;
    }
    if (this._restored) {
      return;
    }
    this._restored = true;
    let saved: unknown = undefined;
    try {
      saved = await this._state?.fetch(ACTIVE_PROJECT_KEY);
    } catch {
      saved = undefined; // nothing remembered
    }
    if (typeof saved === 'string' && this._active === null) {
      this._set(saved);
    }
  }

  /**
   * Keep the choice among `projects` (the user's projects): when the active
   * project is not one of them any more, the first one becomes active.
   */
  reconcile(projects: string[]): void {
    if (this.locked) {
      return;
    }
    if (this._active !== null && projects.includes(this._active)) {
      return;
    }
    this.select(projects.length > 0 ? projects[0] : null);
  }

  select(project: string | null): void {
    if (this.locked || project === this._active) {
      return;
    }
    this._set(project);
    if (this._state) {
      this._state.save(ACTIVE_PROJECT_KEY, project).catch(() => {
        // not remembered: the choice still holds for this session
      });
    }
  }

  private _set(project: string | null): void {
    if (project === this._active) {
      return;
    }
    this._active = project;
    this._changed.emit(project);
  }

  private _active: string | null = null;
  private _mode: ILabContext['mode'] | null = null;
  private _restored = false;
  private _state: IStateDB | null;
  private _changed = new Signal<this, string | null>(this);
}

/**
 * The namespace for {@link ProjectModel} statics.
 */
export namespace ProjectModel {
  /**
   * The options of the model.
   */
  export interface IOptions {
    /**
     * Where the standalone choice is remembered (optional).
     */
    state?: IStateDB | null;
  }
}
