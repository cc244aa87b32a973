import { Dialog, Notification } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { MembersPanel } from '../members';
import { HopsworksModel } from '../panel';
import { HopsworksSidebar } from '../sidebar';
import { FakeServer, IFakeRequest, waitFor } from './fakeServer';
import { choose, q, type } from './dom';

type Role = 'DATA_OWNER' | 'DATA_SCIENTIST';

interface IMemberRow {
  username: string;
  role: Role;
  added_at: string;
}

function user(username: string) {
  return {
    username,
    email: null,
    is_admin: false,
    status: 'active',
    totp_enabled: false,
    created_at: '2024-01-01T00:00:00Z'
  };
}

function member(username: string, role: Role): IMemberRow {
  return { username, role, added_at: '2024-01-01T00:00:00Z' };
}

/**
 * A standalone server where `me` has `role` in project demo, whose members
 * are `members` (live: the routes change it as the real server would).
 */
function server(me: string, role: Role, members: IMemberRow[]): FakeServer {
  return new FakeServer()
    .json('GET', '/api/users/me', user(me))
    .on('GET', '/api/projects', () => {
      const mine = members.find(m => m.username === me);
      return {
        body: {
          count: 1,
          items: [
            {
              name: 'demo',
              description: '',
              owner: 'alice',
              created_at: '2024-01-01T00:00:00Z',
              role: mine?.role ?? null
            }
          ]
        }
      };
    })
    .on('GET', '/api/projects/demo/members', () => ({
      body: { count: members.length, items: members }
    }))
    .on('POST', '/api/projects/demo/members', (request: IFakeRequest) => {
      const body = JSON.parse(request.body);
      const added = member(body.username, body.role);
      members.push(added);
      return { status: 201, body: added };
    })
    .on(
      'PUT',
      /^\/api\/projects\/demo\/members\/([^/]+)$/,
      (request, match) => {
        const found = members.find(m => m.username === match[1]);
        found!.role = JSON.parse(request.body).role;
        return { body: found };
      }
    )
    .on('DELETE', /^\/api\/projects\/demo\/members\/([^/]+)$/, (_, match) => {
      members.splice(
        members.findIndex(m => m.username === match[1]),
        1
      );
      return { status: 204 };
    });
}

describe('The Members section', () => {
  let fake: FakeServer;
  let sidebar: HopsworksSidebar;
  let panel: MembersPanel;
  let notifyError: jest.SpyInstance;

  beforeEach(() => {
    notifyError = jest.spyOn(Notification, 'error');
  });

  afterEach(() => {
    Dialog.flush();
    sidebar.dispose();
    fake.restore();
    jest.restoreAllMocks();
  });

  /**
   * Open the sidebar with the Members section as `me`, and wait for the
   * members of demo.
   */
  async function open(me: string, role: Role, members: IMemberRow[]) {
    fake = server(me, role, members).install();
    const model = new HopsworksModel();
    sidebar = new HopsworksSidebar({ model, client: model.client });
    panel = new MembersPanel({ sidebar });
    sidebar.addSection(panel, 200);
    Widget.attach(sidebar, document.body);
    sidebar.refresh();
    await waitFor(() => q(panel.node, '.hwl-member[data-username]'));
    await waitFor(() => model.role !== null);
  }

  function row(username: string): HTMLElement | null {
    return q(panel.node, `.hwl-member[data-username="${username}"]`);
  }

  it('lets a Data Owner add a member with a role', async () => {
    await open('alice', 'DATA_OWNER', [
      member('alice', 'DATA_OWNER'),
      member('bob', 'DATA_SCIENTIST')
    ]);
    expect(row('alice')?.textContent).toContain('you');
    expect(row('bob')?.getAttribute('data-role')).toBe('DATA_SCIENTIST');

    const form = await waitFor(() => q(panel.node, '.hwl-member-add-form'));
    const add = q<HTMLButtonElement>(form, '.hwl-member-add')!;
    expect(add.disabled).toBe(true); // no name yet
    type(q<HTMLInputElement>(form, '.hwl-member-username')!, 'carol');
    choose(q<HTMLSelectElement>(form, '.hwl-member-new-role')!, 'DATA_OWNER');
    await waitFor(() => !add.disabled);
    add.click();

    await waitFor(() => row('carol'));
    const posts = fake.find('POST', '/api/projects/demo/members');
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0].body)).toEqual({
      username: 'carol',
      role: 'DATA_OWNER'
    });
    expect(row('carol')?.getAttribute('data-role')).toBe('DATA_OWNER');
    // the form is cleared for the next one
    expect(q<HTMLInputElement>(form, '.hwl-member-username')!.value).toBe('');
  });

  it("lets a Data Owner change a member's role and remove a member, after confirming", async () => {
    await open('alice', 'DATA_OWNER', [
      member('alice', 'DATA_OWNER'),
      member('bob', 'DATA_SCIENTIST')
    ]);
    // no remove button for oneself (that is "Leave project")
    expect(q(row('alice')!, '.hwl-member-remove')).toBeNull();

    choose(
      q<HTMLSelectElement>(row('bob')!, '.hwl-member-role-select')!,
      'DATA_OWNER'
    );
    await waitFor(() => row('bob')?.getAttribute('data-role') === 'DATA_OWNER');
    const puts = fake.find('PUT', '/api/projects/demo/members/bob');
    expect(puts).toHaveLength(1);
    expect(JSON.parse(puts[0].body)).toEqual({ role: 'DATA_OWNER' });

    // cancelled: nothing is sent
    q<HTMLButtonElement>(row('bob')!, '.hwl-member-remove')!.click();
    await waitFor(() => document.querySelector('.jp-Dialog'));
    expect(document.querySelector('.jp-Dialog')?.textContent).toContain(
      'Remove bob from project demo?'
    );
    document
      .querySelector<HTMLButtonElement>('.jp-Dialog .jp-mod-reject')!
      .click();
    await waitFor(() => document.querySelector('.jp-Dialog') === null);
    expect(fake.find('DELETE', '/api/projects/demo/members/bob')).toEqual([]);

    // confirmed: removed
    q<HTMLButtonElement>(row('bob')!, '.hwl-member-remove')!.click();
    await waitFor(() => document.querySelector('.jp-Dialog .jp-mod-warn'));
    document
      .querySelector<HTMLButtonElement>('.jp-Dialog .jp-mod-warn')!
      .click();
    await waitFor(() => row('bob') === null);
    expect(fake.find('DELETE', '/api/projects/demo/members/bob')).toHaveLength(
      1
    );
    expect(notifyError).not.toHaveBeenCalled();
  });

  it('shows a Data Scientist the list without the controls, and lets them leave', async () => {
    await open('bob', 'DATA_SCIENTIST', [
      member('alice', 'DATA_OWNER'),
      member('bob', 'DATA_SCIENTIST')
    ]);
    expect(row('alice')?.querySelector('.hwl-member-role')?.textContent).toBe(
      'Data Owner'
    );
    expect(q(panel.node, '.hwl-member-role-select')).toBeNull();
    expect(q(panel.node, '.hwl-member-remove')).toBeNull();
    expect(q(panel.node, '.hwl-member-add-form')).toBeNull();

    const projectsBefore = fake.find('GET', '/api/projects').length;
    q<HTMLButtonElement>(panel.node, '.hwl-member-leave')!.click();
    await waitFor(() => document.querySelector('.jp-Dialog .jp-mod-warn'));
    document
      .querySelector<HTMLButtonElement>('.jp-Dialog .jp-mod-warn')!
      .click();

    await waitFor(
      () => fake.find('DELETE', '/api/projects/demo/members/bob').length === 1
    );
    // their projects are reloaded: demo is not theirs any more
    await waitFor(
      () => fake.find('GET', '/api/projects').length > projectsBefore
    );
    await waitFor(() => sidebar.model.role === null);
    expect(q(panel.node, '.hwl-member-leave')).toBeNull();
  });

  it('takes the controls away from a Data Owner who steps down', async () => {
    await open('alice', 'DATA_OWNER', [
      member('alice', 'DATA_OWNER'),
      member('carol', 'DATA_OWNER')
    ]);
    const projectsBefore = fake.find('GET', '/api/projects').length;
    choose(
      q<HTMLSelectElement>(row('alice')!, '.hwl-member-role-select')!,
      'DATA_SCIENTIST'
    );
    // their own role changed: the sidebar reloads their projects and roles
    await waitFor(() => sidebar.model.role === 'DATA_SCIENTIST');
    expect(fake.find('GET', '/api/projects').length).toBeGreaterThan(
      projectsBefore
    );
    await waitFor(() => q(panel.node, '.hwl-member-role-select') === null);
    expect(q(panel.node, '.hwl-member-add-form')).toBeNull();
    expect(row('alice')?.getAttribute('data-role')).toBe('DATA_SCIENTIST');
  });

  it('shows the server refusing a change and keeps the list as it was', async () => {
    await open('alice', 'DATA_OWNER', [
      member('alice', 'DATA_OWNER'),
      member('bob', 'DATA_SCIENTIST')
    ]);
    fake.json(
      'PUT',
      '/api/projects/demo/members/alice',
      {
        error: 'last_data_owner',
        message: 'the last Data Owner of demo cannot be demoted'
      },
      409
    );
    const select = q<HTMLSelectElement>(
      row('alice')!,
      '.hwl-member-role-select'
    )!;
    choose(select, 'DATA_SCIENTIST');

    await waitFor(() => notifyError.mock.calls.length > 0);
    expect(notifyError.mock.calls[0][0]).toContain(
      'the last Data Owner of demo cannot be demoted'
    );
    await waitFor(() => !select.disabled);
    expect(select.value).toBe('DATA_OWNER');
    expect(row('alice')?.getAttribute('data-role')).toBe('DATA_OWNER');
    expect(row('bob')?.getAttribute('data-role')).toBe('DATA_SCIENTIST');
    expect(sidebar.model.role).toBe('DATA_OWNER');
  });

  it('reloads when asked to and says once why the members cannot be read', async () => {
    await open('alice', 'DATA_OWNER', [member('alice', 'DATA_OWNER')]);
    fake.json(
      'GET',
      '/api/projects/demo/members',
      { error: 'unavailable', message: 'the database is down' },
      503
    );
    sidebar.refresh();
    const alert = await waitFor(() => q(panel.node, '[role="alert"]'));
    expect(alert.textContent).toContain('the database is down');
    const gets = fake.find('GET', '/api/projects/demo/members').length;
    sidebar.refresh();
    await waitFor(
      () => fake.find('GET', '/api/projects/demo/members').length > gets
    );
    await new Promise(resolve => setTimeout(resolve, 20));
    expect(notifyError).toHaveBeenCalledTimes(1);
  });
});
