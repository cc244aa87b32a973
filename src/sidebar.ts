import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { ReactWidget, SidePanel } from '@jupyterlab/ui-components';
import { Token } from '@lumino/coreutils';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { ApiClient } from './client';
import { hopsworksIcon } from './icons';
import type { HopsworksModel } from './panel';

/**
 * The DOM id of the sidebar (the one Hopsworks icon in the left area).
 */
export const SIDEBAR_ID = 'hopsworks-lab-panel';

/**
 * The user's preferences (`schema/plugin.json`), kept up to date.
 */
export interface IPreferences {
  /**
   * Entries asked for per page of a folder listing.
   */
  pageSize: number;
  /**
   * Seconds between automatic refreshes of the visible sections (0: never).
   */
  refreshInterval: number;
}

/**
 * The defaults of {@link IPreferences} (as in `schema/plugin.json`).
 */
export const DEFAULT_PREFERENCES: IPreferences = {
  pageSize: 100,
  refreshInterval: 30
};

/**
 * The Hopsworks sidebar: one icon in the left area, one collapsible section
 * per panel (project, members, datasets, sharing; later issues add theirs).
 */
export interface IHopsworksSidebar {
  /**
   * The signed-in user, their projects and the active project.
   */
  readonly model: HopsworksModel;
  /**
   * The typed platform API client.
   */
  readonly client: ApiClient;
  /**
   * The current preferences.
   */
  readonly preferences: IPreferences;
  /**
   * Emitted when the sections should reload their data: the refresh button,
   * the sidebar being shown, the refresh interval.
   */
  readonly refreshRequested: ISignal<IHopsworksSidebar, void>;
  /**
   * Add a section; sections are ordered by `rank` (lowest first).
   */
  addSection(widget: Widget, rank: number): void;
  /**
   * Reload the user and their projects, then ask every section to reload.
   */
  refresh(): void;
  /**
   * Show the sidebar (e.g. after a command).
   */
  readonly id: string;
}

/**
 * The Hopsworks sidebar, provided by the `hopsworks-lab:plugin` plugin.
 */
export const IHopsworksSidebar = new Token<IHopsworksSidebar>(
  'hopsworks-lab:IHopsworksSidebar',
  'The Hopsworks sidebar: add a section (a panel) to it, reach the typed API client and the active project.'
);

/**
 * A section of the sidebar: a React widget whose title is the section's
 * header. Its connections made with `this` as the receiver (e.g. to the
 * sidebar's `refreshRequested`) end with it: `Widget.dispose()` clears them.
 */
export abstract class SectionWidget extends ReactWidget {
  constructor(label: string, className: string) {
    super();
    this.title.label = label;
    this.addClass('hwl-section');
    this.addClass(className);
  }
}

/**
 * What {@link ActiveSectionWidget} needs of its model.
 */
export interface IActiveSectionModel {
  /**
   * The project whose data is loaded (null: none).
   */
  readonly state: { readonly project: string | null };
  /**
   * Start or stop polling.
   */
  setActive(active: boolean): void;
  dispose(): void;
}

/**
 * A section whose model polls: polling follows the section's visibility
 * (attached and shown), so a hidden section sends no requests; the model
 * is disposed with the section, and a section attached after the active
 * project changed reloads.
 */
export abstract class ActiveSectionWidget<
  M extends IActiveSectionModel
> extends SectionWidget {
  constructor(label: string, className: string, sidebar: IHopsworksSidebar) {
    super(label, className);
    this.sidebar = sidebar;
  }

  abstract readonly model: M;

  /**
   * Reload the active project's data.
   */
  abstract refresh(): Promise<void>;

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.dispose();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.model.setActive(this.isVisible);
    if (
      this.model.state.project !== this.sidebar.model.projects.activeProject
    ) {
      void this.refresh();
    }
  }

  protected onBeforeDetach(msg: Message): void {
    this.model.setActive(false);
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.setActive(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.setActive(false);
  }

  protected readonly sidebar: IHopsworksSidebar;
}

/**
 * The default {@link IHopsworksSidebar}.
 */
export class HopsworksSidebar extends SidePanel implements IHopsworksSidebar {
  constructor(options: HopsworksSidebar.IOptions) {
    super({ translator: options.translator });
    this.model = options.model;
    this.client = options.client;
    this.id = SIDEBAR_ID;
    this.addClass('hwl-panel');
    this.title.icon = hopsworksIcon;
    const trans = (options.translator ?? nullTranslator).load('hopsworks_lab');
    this.title.caption = trans.__('Hopsworks');
    // A project picked in the panel: the sections reload (a refresh under
    // way emits once it is done).
    this.model.projects.changed.connect(this._onProjectChanged, this);
  }

  readonly model: HopsworksModel;
  readonly client: ApiClient;

  get preferences(): IPreferences {
    return this._preferences;
  }

  get refreshRequested(): ISignal<this, void> {
    return this._refreshRequested;
  }

  /**
   * Apply new preferences (restarts the refresh timer).
   */
  setPreferences(preferences: Partial<IPreferences>): void {
    this._preferences = { ...this._preferences, ...preferences };
    this._schedule();
  }

  addSection(widget: Widget, rank: number): void {
    const ranks = this._ranks;
    ranks.set(widget, rank);
    const index = this.widgets.findIndex(w => (ranks.get(w) ?? 0) > rank);
    if (index === -1) {
      this.addWidget(widget);
    } else {
      this.insertWidget(index, widget);
    }
  }

  /**
   * Reload the user and their projects, then ask every section to reload.
   */
  refresh(): void {
    this._refreshing = true;
    void this.model.refresh().finally(() => {
      this._refreshing = false;
      this._refreshRequested.emit();
    });
  }

  dispose(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.refresh();
    this._schedule();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._schedule();
  }

  private _onProjectChanged(): void {
    if (!this._refreshing) {
      this._refreshRequested.emit();
    }
  }

  private _schedule(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
    const seconds = this._preferences.refreshInterval;
    if (seconds > 0 && this.isVisible) {
      this._timer = window.setInterval(() => {
        if (this.isVisible) {
          this.refresh();
        }
      }, seconds * 1000);
    }
  }

  private _refreshing = false;
  private _preferences: IPreferences = { ...DEFAULT_PREFERENCES };
  private _ranks = new WeakMap<Widget, number>();
  private _timer: number | null = null;
  private _refreshRequested = new Signal<this, void>(this);
}

/**
 * The namespace for {@link HopsworksSidebar} statics.
 */
export namespace HopsworksSidebar {
  export interface IOptions {
    model: HopsworksModel;
    client: ApiClient;
    translator?: ITranslator;
  }
}
