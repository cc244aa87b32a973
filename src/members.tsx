import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { Button, closeIcon, UseSignal } from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import type { Schemas } from './api';
// The client is loaded at start-up by the main plugin anyway (index.ts):
// deferring it here would save nothing.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { ApiClient, unwrap } from './client';
import { confirmAction, describeError, notifyError } from './feedback';
import { IHopsworksSidebar, SectionWidget } from './sidebar';

export type Member = Schemas['Member'];
export type Role = Schemas['Role'];

/**
 * The roles a member can have, Data Owner first.
 */
export const ROLES: Role[] = ['DATA_OWNER', 'DATA_SCIENTIST'];

/**
 * The server's rule for user names (`UserName` in the spec), checked before
 * asking so that a typo is explained at once.
 */
const USERNAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

/**
 * Whether `name` can be a user name.
 */
export function isValidUsername(name: string): boolean {
  return (
    name.length >= 2 &&
    name.length <= 32 &&
    name !== 'me' &&
    USERNAME.test(name)
  );
}

/**
 * A role for people.
 */
export function roleLabel(role: Role, trans: TranslationBundle): string {
  return role === 'DATA_OWNER'
    ? trans.__('Data Owner')
    : trans.__('Data Scientist');
}

/**
 * What the Members section shows.
 */
export interface IMembersState {
  /**
   * The project the members belong to.
   */
  project: string | null;
  /**
   * The members, once loaded.
   */
  members: Member[] | null;
  loading: boolean;
  /**
   * Why the latest load failed.
   */
  error: string | null;
  /**
   * Whether a change (add, role, remove) is under way: the controls wait.
   */
  busy: boolean;
  /**
   * Roles asked for but not yet confirmed by the server, by user name.
   */
  pending: Record<string, Role>;
}

const EMPTY: IMembersState = {
  project: null,
  members: null,
  loading: false,
  error: null,
  busy: false,
  pending: {}
};

/**
 * The members of the active project, and the changes a Data Owner makes.
 * The server decides who may do what; a refusal becomes a notification and
 * the list stays as the server has it.
 */
export class MembersModel {
  constructor(options: MembersModel.IOptions) {
    this._client = options.client;
  }

  get state(): IMembersState {
    return this._state;
  }

  get stateChanged(): ISignal<this, IMembersState> {
    return this._stateChanged;
  }

  /**
   * Reload the members of `project`; only the latest load's answer is kept.
   * A failure is shown inline and notified once (not again on every
   * periodic refresh that fails the same way).
   */
  async load(project: string | null): Promise<void> {
    const generation = ++this._generation;
    if (project === null) {
      this._setState({ ...EMPTY });
      return;
    }
    const previous =
      project === this._state.project ? this._state : { ...EMPTY, project };
    this._setState({ ...previous, loading: true });
    try {
      const list = await unwrap(
        this._client.GET('/api/projects/{project}/members', {
          params: { path: { project } }
        })
      );
      if (generation !== this._generation) {
        return;
      }
      this._setState({
        ...this._state,
        members: list.items,
        loading: false,
        error: null
      });
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      const message = describeError(error);
      if (message !== previous.error) {
        notifyError(message);
      }
      this._setState({
        ...this._state,
        members: null,
        loading: false,
        error: message
      });
    }
  }

  /**
   * Add `username` with `role`. True when it worked.
   */
  add(username: string, role: Role): Promise<boolean> {
    return this._change(project =>
      unwrap(
        this._client.POST('/api/projects/{project}/members', {
          params: { path: { project } },
          body: { username, role }
        })
      )
    );
  }

  /**
   * Give `username` the role `role`. True when it worked.
   */
  changeRole(username: string, role: Role): Promise<boolean> {
    return this._change(
      project =>
        unwrap(
          this._client.PUT('/api/projects/{project}/members/{username}', {
            params: { path: { project, username } },
            body: { role }
          })
        ),
      { [username]: role }
    );
  }

  /**
   * Remove `username` from the project (or leave it, for oneself). True
   * when it worked.
   */
  remove(username: string): Promise<boolean> {
    return this._change(project =>
      unwrap(
        this._client.DELETE('/api/projects/{project}/members/{username}', {
          params: { path: { project, username } }
        })
      )
    );
  }

  /**
   * Send one change; reload the members when it worked, notify when not.
   */
  private async _change(
    send: (project: string) => Promise<unknown>,
    pending: Record<string, Role> = {}
  ): Promise<boolean> {
    const project = this._state.project;
    if (project === null || this._state.busy) {
      return false;
    }
    this._setState({ ...this._state, busy: true, pending });
    let ok = true;
    try {
      await send(project);
    } catch (error) {
      ok = false;
      notifyError(describeError(error));
    }
    if (ok && this._state.project === project) {
      // The pending role shows until the reloaded list confirms it.
      await this.load(project);
    }
    if (this._state.project === project) {
      this._setState({ ...this._state, busy: false, pending: {} });
    }
    return ok;
  }

  private _setState(state: IMembersState): void {
    this._state = state;
    this._stateChanged.emit(state);
  }

  private _client: ApiClient;
  private _generation = 0;
  private _state: IMembersState = { ...EMPTY };
  private _stateChanged = new Signal<this, IMembersState>(this);
}

/**
 * The namespace for {@link MembersModel} statics.
 */
export namespace MembersModel {
  export interface IOptions {
    client: ApiClient;
  }
}

/**
 * The props of {@link MembersView}.
 */
export interface IMembersViewProps {
  state: IMembersState;
  /**
   * The signed-in user's name.
   */
  me: string | null;
  /**
   * The signed-in user's role in the project: only a Data Owner gets the
   * controls that change membership.
   */
  role: Role | null;
  /**
   * How many rows to render before "Show more".
   */
  pageSize: number;
  onAdd: (username: string, role: Role) => Promise<boolean>;
  onChangeRole: (username: string, role: Role) => void;
  onRemove: (username: string) => void;
  onLeave: () => void;
  translator?: ITranslator;
}

/**
 * The members of the active project; for a Data Owner, with the controls
 * to add, change and remove them.
 */
export function MembersView(props: IMembersViewProps): JSX.Element {
  const { state, me, role, pageSize } = props;
  const trans = (props.translator ?? nullTranslator).load('hopsworks_lab');
  const [shown, setShown] = React.useState(pageSize);
  const owner = role === 'DATA_OWNER';
  const members = state.members;

  if (state.project === null) {
    return (
      <div className="hwl-panel-body hwl-members">
        <p className="hwl-empty">{trans.__('No active project.')}</p>
      </div>
    );
  }
  return (
    <div className="hwl-panel-body hwl-members" data-project={state.project}>
      {state.loading && members === null && (
        <div className="hwl-loading" role="status">
          {trans.__('Loading…')}
        </div>
      )}
      {state.error && (
        <div className="hwl-error" role="alert">
          <p className="hwl-error-message">{state.error}</p>
        </div>
      )}
      {members && members.length === 0 && (
        <p className="hwl-empty">{trans.__('No members.')}</p>
      )}
      {members && members.length > 0 && (
        <ul
          className="hwl-member-list"
          aria-label={trans.__('Members of %1', state.project)}
        >
          {members.slice(0, shown).map(member => (
            <MemberRow
              key={member.username}
              member={member}
              role={state.pending[member.username] ?? member.role}
              isMe={member.username === me}
              owner={owner}
              busy={state.busy}
              onChangeRole={props.onChangeRole}
              onRemove={props.onRemove}
              trans={trans}
            />
          ))}
        </ul>
      )}
      {members && members.length > shown && (
        <Button
          className="hwl-member-more"
          minimal
          small
          onClick={() => setShown(shown + pageSize)}
        >
          {trans.__('Show more (%1 of %2 shown)', shown, members.length)}
        </Button>
      )}
      {owner && (
        <AddMemberForm busy={state.busy} onAdd={props.onAdd} trans={trans} />
      )}
      {members && members.some(m => m.username === me) && (
        <Button
          className="hwl-member-leave"
          minimal
          small
          disabled={state.busy}
          title={trans.__('Leave project %1', state.project)}
          onClick={props.onLeave}
        >
          {trans.__('Leave project')}
        </Button>
      )}
    </div>
  );
}

/**
 * One member: their name and role; for a Data Owner a role select and (for
 * the others) a remove button.
 */
function MemberRow(props: {
  member: Member;
  role: Role;
  isMe: boolean;
  owner: boolean;
  busy: boolean;
  onChangeRole: (username: string, role: Role) => void;
  onRemove: (username: string) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { member, role, isMe, owner, busy, trans } = props;
  const name = member.username;
  return (
    <li className="hwl-member" data-username={name} data-role={member.role}>
      <span className="hwl-member-name">{name}</span>
      {isMe && (
        <span className="hwl-badge hwl-me-badge">{trans.__('you')}</span>
      )}
      {owner ? (
        <select
          className="jp-mod-styled hwl-member-role-select"
          aria-label={trans.__('Role of %1', name)}
          value={role}
          disabled={busy}
          onChange={event =>
            props.onChangeRole(name, event.target.value as Role)
          }
        >
          {ROLES.map(r => (
            <option key={r} value={r}>
              {roleLabel(r, trans)}
            </option>
          ))}
        </select>
      ) : (
        <span className="hwl-role hwl-member-role" data-role={member.role}>
          {roleLabel(member.role, trans)}
        </span>
      )}
      {owner && !isMe && (
        <Button
          className="hwl-member-remove"
          minimal
          small
          disabled={busy}
          aria-label={trans.__('Remove %1', name)}
          title={trans.__('Remove %1 from the project', name)}
          onClick={() => props.onRemove(name)}
        >
          <closeIcon.react tag="span" className="hwl-member-remove-icon" />
        </Button>
      )}
    </li>
  );
}

/**
 * The Data Owner's form to add a member: a user name and a role.
 */
function AddMemberForm(props: {
  busy: boolean;
  onAdd: (username: string, role: Role) => Promise<boolean>;
  trans: TranslationBundle;
}): JSX.Element {
  const { busy, trans } = props;
  const [username, setUsername] = React.useState('');
  const [role, setRole] = React.useState<Role>('DATA_SCIENTIST');
  const name = username.trim();
  const valid = isValidUsername(name);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!valid || busy) {
      return;
    }
    if (await props.onAdd(name, role)) {
      setUsername('');
    }
  };
  return (
    <form
      className="hwl-member-add-form"
      aria-label={trans.__('Add a member')}
      onSubmit={event => void submit(event)}
    >
      <input
        className="jp-mod-styled hwl-member-username"
        type="text"
        placeholder={trans.__('User name')}
        aria-label={trans.__('User name')}
        aria-invalid={name !== '' && !valid}
        value={username}
        onChange={event => setUsername(event.target.value)}
      />
      <select
        className="jp-mod-styled hwl-member-new-role"
        aria-label={trans.__('Role of the new member')}
        value={role}
        onChange={event => setRole(event.target.value as Role)}
      >
        {ROLES.map(r => (
          <option key={r} value={r}>
            {roleLabel(r, trans)}
          </option>
        ))}
      </select>
      <Button
        className="hwl-member-add"
        type="submit"
        small
        disabled={!valid || busy}
        title={trans.__('Add the user to the project')}
      >
        {trans.__('Add')}
      </Button>
      {name !== '' && !valid && (
        <p className="hwl-hint">
          {trans.__(
            'A user name has 2 to 32 lowercase letters, digits and single underscores, and starts with a letter.'
          )}
        </p>
      )}
    </form>
  );
}

/**
 * The Members section of the sidebar.
 */
export class MembersPanel extends SectionWidget {
  constructor(options: MembersPanel.IOptions) {
    const translator = options.translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');
    super(trans.__('Members'), 'hwl-members-section');
    this._sidebar = options.sidebar;
    this._translator = translator;
    this._trans = trans;
    this.model = new MembersModel({ client: options.sidebar.client });
    this._sidebar.refreshRequested.connect(this._onRefreshRequested, this);
    // The user's role and name come from the sidebar's model.
    this._sidebar.model.stateChanged.connect(this._onSidebarState, this);
    if (this._sidebar.model.projects.activeProject !== null) {
      void this.refresh();
    }
  }

  /**
   * The section's data.
   */
  readonly model: MembersModel;

  /**
   * Reload the members of the active project.
   */
  refresh(): Promise<void> {
    return this.model.load(this._sidebar.model.projects.activeProject);
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <MembersView
            // a new project starts with its first page again
            key={this.model.state.project ?? ''}
            state={this.model.state}
            me={this._me()}
            role={this._sidebar.model.role}
            pageSize={this._sidebar.preferences.pageSize}
            onAdd={(username, role) => this.model.add(username, role)}
            onChangeRole={(username, role) =>
              void this._changeRole(username, role)
            }
            onRemove={username => void this._remove(username)}
            onLeave={() => void this._leave()}
            translator={this._translator}
          />
        )}
      </UseSignal>
    );
  }

  private _me(): string | null {
    return this._sidebar.model.state.user?.username ?? null;
  }

  private async _changeRole(username: string, role: Role): Promise<void> {
    const ok = await this.model.changeRole(username, role);
    if (ok && username === this._me()) {
      // Their own role changed: every section's controls depend on it.
      this._sidebar.refresh();
    }
  }

  private async _remove(username: string): Promise<void> {
    const trans = this._trans;
    const project = this.model.state.project ?? '';
    const confirmed = await confirmAction({
      title: trans.__('Remove member'),
      body: trans.__(
        'Remove %1 from project %2? Their certificate is revoked and their access ends.',
        username,
        project
      ),
      label: trans.__('Remove'),
      trans
    });
    if (confirmed) {
      await this.model.remove(username);
    }
  }

  private async _leave(): Promise<void> {
    const me = this._me();
    if (me === null) {
      return;
    }
    const trans = this._trans;
    const project = this.model.state.project ?? '';
    const confirmed = await confirmAction({
      title: trans.__('Leave project'),
      body: trans.__(
        'Leave project %1? You lose access to its data until a Data Owner adds you again.',
        project
      ),
      label: trans.__('Leave'),
      trans
    });
    if (confirmed && (await this.model.remove(me))) {
      this._sidebar.refresh();
    }
  }

  private _onRefreshRequested(): void {
    void this.refresh();
  }

  private _onSidebarState(): void {
    this.update();
  }

  private _sidebar: IHopsworksSidebar;
  private _translator: ITranslator;
  private _trans: TranslationBundle;
}

/**
 * The namespace for {@link MembersPanel} statics.
 */
export namespace MembersPanel {
  export interface IOptions {
    sidebar: IHopsworksSidebar;
    translator?: ITranslator;
  }
}

/**
 * Adds the Members section (rank 200) to the Hopsworks sidebar.
 */
export const membersPlugin: JupyterFrontEndPlugin<void> = {
  id: 'hopsworks-lab:members',
  description:
    'The Members section of the Hopsworks sidebar: the members of the active project and their roles; Data Owners add, change and remove members.',
  autoStart: true,
  requires: [IHopsworksSidebar],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    sidebar: IHopsworksSidebar,
    translator: ITranslator | null
  ): void => {
    sidebar.addSection(
      new MembersPanel({ sidebar, translator: translator ?? undefined }),
      200
    );
  }
};
