import { Notification } from '@jupyterlab/apputils';
import { simulate } from '@jupyterlab/testing';
import { Widget } from '@lumino/widgets';

import { createApiClient } from '../client';
import { HopsworksModel } from '../panel';
import { showShareDialog } from '../shareDialog';
import { Dataset, Share, SharingSection } from '../sharing';
import { HopsworksSidebar } from '../sidebar';
import { FakeServer, IFakeRequest, waitFor } from './fakeServer';

const T = '2024-01-01T00:00:00Z';

function dataset(name: string, extra: Partial<Dataset> = {}): Dataset {
  return {
    name,
    owner_project: 'demo',
    description: '',
    preset: 'GROUP_WRITABLE',
    public: false,
    shared: false,
    permission: null,
    status: null,
    created_at: T,
    rights: null,
    ...extra
  };
}

function share(
  ref: string,
  project: string,
  status: Share['status'],
  permission: Share['permission'] = 'READ_ONLY'
): Share {
  return {
    dataset: ref,
    project,
    permission,
    status,
    shared_by: 'bob',
    created_at: T
  };
}

/**
 * A platform holding project `demo`, its datasets, what it shares and what
 * is shared with it; the read routes answer from the current state, so a
 * reload shows what an action changed.
 */
class World {
  own: Dataset[] = [dataset('Logs'), dataset('Resources', { public: true })];
  outgoing: Record<string, Share[]> = {
    Logs: [],
    Resources: [share('demo::Resources', 'other', 'ACCEPTED')]
  };
  incoming: Share[] = [share('other::Data', 'demo', 'PENDING', 'READ_WRITE')];
  catalogue: Dataset[] = [
    dataset('demo::Resources', { public: true }),
    dataset('other::Data', { owner_project: 'other', public: true }),
    dataset('other::Public', {
      owner_project: 'other',
      public: true,
      description: 'Open data'
    }),
    dataset('third::Open', { owner_project: 'third', public: true })
  ];

  install(server: FakeServer): FakeServer {
    return server
      .on('GET', '/api/projects/demo/datasets', () => {
        // the shared-in datasets are listed too, as owner::name
        const shared = this.incoming.map(s =>
          dataset(s.dataset, {
            owner_project: s.dataset.split('::')[0],
            shared: true,
            permission: s.permission,
            status: s.status
          })
        );
        const items = [...this.own, ...shared];
        return { body: { items, count: items.length } };
      })
      .on(
        'GET',
        /^\/api\/projects\/demo\/datasets\/([^/]+)\/shares$/,
        (_, m) => {
          const items = this.outgoing[m[1]] ?? [];
          return { body: { items, count: items.length } };
        }
      )
      .on('GET', '/api/projects/demo/shares', () => ({
        body: { items: this.incoming, count: this.incoming.length }
      }))
      .on('GET', '/api/datasets/public', () => ({
        body: { items: this.catalogue, count: this.catalogue.length }
      }));
  }
}

function projectsFor(role: 'DATA_OWNER' | 'DATA_SCIENTIST') {
  return {
    count: 1,
    items: [
      {
        name: 'demo',
        description: '',
        owner: 'alice',
        created_at: T,
        role
      }
    ]
  };
}

const alice = {
  username: 'alice',
  email: null,
  is_admin: false,
  status: 'active',
  totp_enabled: false,
  created_at: T
};

describe('SharingSection', () => {
  let server: FakeServer;
  let world: World;
  let sidebar: HopsworksSidebar;
  let section: SharingSection;
  let notify: jest.SpyInstance;
  let refresh: jest.SpyInstance;

  /**
   * A signed-in `role` of project `demo` with the Sharing section attached
   * and loaded.
   */
  async function open(
    role: 'DATA_OWNER' | 'DATA_SCIENTIST' = 'DATA_OWNER',
    pageSize = 100
  ): Promise<void> {
    server
      .json('GET', '/api/users/me', alice)
      .json('GET', '/api/projects', projectsFor(role))
      .install();
    const client = createApiClient();
    const model = new HopsworksModel({ client });
    sidebar = new HopsworksSidebar({ model, client });
    sidebar.setPreferences({ pageSize, refreshInterval: 0 });
    await model.refresh();
    refresh = jest.spyOn(sidebar, 'refresh');
    section = new SharingSection({ sidebar });
    Widget.attach(section, document.body);
    await waitFor(
      () =>
        section.model.state.project === 'demo' && !section.model.state.loading
    );
    await waitFor(() => section.node.querySelector('.hwl-sharing-group'));
  }

  function row(selector: string): HTMLElement | null {
    return section.node.querySelector<HTMLElement>(selector);
  }

  function button(label: string): HTMLButtonElement {
    const found = section.node.querySelector<HTMLButtonElement>(
      `button[aria-label="${label}"]`
    );
    if (!found) {
      throw new Error(`no button ${label}`);
    }
    return found;
  }

  /**
   * Click a button of the open dialog (`.jp-mod-accept`, `.jp-mod-warn`, …).
   */
  async function clickDialog(selector: string): Promise<void> {
    const node = await waitFor(() =>
      document.body.querySelector<HTMLElement>(`.jp-Dialog ${selector}`)
    );
    simulate(node, 'click', { button: 0 });
  }

  function only(method: string, path: string): IFakeRequest {
    const found = server.find(method, path);
    expect(found).toHaveLength(1);
    return found[0];
  }

  beforeEach(() => {
    world = new World();
    server = world.install(new FakeServer());
    notify = jest.spyOn(Notification, 'error');
  });

  afterEach(() => {
    section?.dispose();
    sidebar?.dispose();
    server.restore();
    notify.mockRestore();
    document.body.innerHTML = '';
  });

  it("shows what is shared with the project and the project's own datasets with their shares", async () => {
    await open();
    const offer = row('.hwl-share-incoming[data-dataset="other::Data"]');
    expect(offer?.getAttribute('data-status')).toBe('PENDING');
    expect(offer?.textContent).toContain('pending');
    expect(offer?.textContent).toContain('read-write');
    expect(offer?.textContent).toContain('Shared by bob');

    // own datasets only: the shared-in one is not listed among them
    const own = Array.from(
      section.node.querySelectorAll('.hwl-share-dataset')
    ).map(n => n.getAttribute('data-dataset'));
    expect(own).toEqual(['Logs', 'Resources']);
    const resources = row('.hwl-share-dataset[data-dataset="Resources"]');
    expect(resources?.querySelector('.hwl-share-public')?.textContent).toBe(
      'public'
    );
    const target = resources?.querySelector('[data-target="other"]');
    expect(target?.textContent).toContain('accepted');
    expect(target?.querySelector<HTMLSelectElement>('select')?.value).toBe(
      'READ_ONLY'
    );
    expect(row('[data-dataset="Logs"]')?.textContent).toContain('Not shared');
    expect(notify).not.toHaveBeenCalled();
    expect(row('[role="alert"]')).toBeNull();
  });

  it('accepts an offer (the ref is one encoded path segment), then removes it after confirmation', async () => {
    server.on('POST', /^\/api\/projects\/demo\/shares\/(.+)\/accept$/, () => {
      world.incoming = [share('other::Data', 'demo', 'ACCEPTED', 'READ_WRITE')];
      return { body: world.incoming[0] };
    });
    server.on('DELETE', /^\/api\/projects\/demo\/shares\/([^/]+)$/, () => {
      world.incoming = [];
      return { status: 204 };
    });
    await open();

    button('Accept other::Data').click();
    await waitFor(
      () =>
        row('.hwl-share-incoming[data-status="ACCEPTED"]') &&
        refresh.mock.calls.length > 0
    );
    const accept = only('POST', '/api/projects/demo/shares/other::Data/accept');
    expect(accept.rawPath).toBe(
      '/hopsworks/api/projects/demo/shares/other%3A%3AData/accept'
    );
    // the accepted share shows its permission and can be removed, no more
    // accepted
    const accepted = row('[data-dataset="other::Data"]');
    expect(accepted?.textContent).toContain('read-write');
    expect(
      section.node.querySelector('[aria-label="Accept other::Data"]')
    ).toBeNull();

    refresh.mockClear();
    button('Remove other::Data').click();
    // nothing is sent before the user confirms
    await waitFor(() => document.body.querySelector('.jp-Dialog'));
    expect(server.find('DELETE', /shares/)).toHaveLength(0);
    await clickDialog('.jp-mod-warn');
    await waitFor(() => row('.hwl-sharing-incoming .hwl-empty'));
    const removed = only('DELETE', '/api/projects/demo/shares/other::Data');
    expect(removed.rawPath).toBe(
      '/hopsworks/api/projects/demo/shares/other%3A%3AData'
    );
    expect(refresh).toHaveBeenCalled();
    expect(notify).not.toHaveBeenCalled();
  });

  it('reports a refused accept and changes nothing', async () => {
    server.json(
      'POST',
      '/api/projects/demo/shares/other::Data/accept',
      {
        error: 'share_not_found',
        message: "'other::Data' is not shared with 'demo'"
      },
      404
    );
    await open();
    button('Accept other::Data').click();
    await waitFor(() => notify.mock.calls.length > 0);
    expect(String(notify.mock.calls[0][0])).toContain(
      "'other::Data' is not shared with 'demo'"
    );
    // the button comes back once the refused call is over: a render after the
    // notification, not at once
    await waitFor(() => !button('Accept other::Data').disabled);
    expect(
      row('[data-dataset="other::Data"]')?.getAttribute('data-status')
    ).toBe('PENDING');
    expect(refresh).not.toHaveBeenCalled();
  });

  it('shares through the dialog: a refusal is shown and changes nothing, then the project and permission are sent', async () => {
    server.on('POST', '/api/projects/demo/datasets/Logs/shares', request => {
      const body = JSON.parse(request.body) as {
        project: string;
        permission: Share['permission'];
      };
      if (body.project !== 'third') {
        return {
          status: 404,
          body: {
            error: 'project_not_found',
            message: `no project '${body.project}'`
          }
        };
      }
      const offered = share('demo::Logs', 'third', 'PENDING', body.permission);
      world.outgoing.Logs = [offered];
      return { status: 201, body: offered };
    });
    await open();

    button('Share Logs').click();
    const input = await waitFor(() =>
      document.body.querySelector<HTMLInputElement>(
        '.jp-Dialog input.hwl-share-dialog-project'
      )
    );
    input.value = 'nowhere';
    await clickDialog('.jp-mod-accept');

    // the server's message, and the dialog again with what was typed
    const error = await waitFor(() =>
      document.body.querySelector('.jp-Dialog .hwl-share-dialog-error')
    );
    expect(error.textContent).toContain("no project 'nowhere'");
    expect(String(notify.mock.calls[0][0])).toContain("no project 'nowhere'");
    const again = document.body.querySelector<HTMLInputElement>(
      '.jp-Dialog input.hwl-share-dialog-project'
    );
    expect(again?.value).toBe('nowhere');
    expect(row('[data-dataset="Logs"]')?.textContent).toContain('Not shared');

    again!.value = 'third';
    const select = document.body.querySelector<HTMLSelectElement>(
      '.jp-Dialog select.hwl-share-dialog-permission'
    );
    expect(select?.value).toBe('READ_ONLY');
    select!.value = 'READ_WRITE';
    await clickDialog('.jp-mod-accept');

    const target = await waitFor(() =>
      row('[data-dataset="Logs"] [data-target="third"]')
    );
    expect(target.getAttribute('data-status')).toBe('PENDING');
    expect(target.getAttribute('data-permission')).toBe('READ_WRITE');
    const sent = server.find('POST', '/api/projects/demo/datasets/Logs/shares');
    expect(sent.map(r => JSON.parse(r.body))).toEqual([
      { project: 'nowhere', permission: 'READ_ONLY' },
      { project: 'third', permission: 'READ_WRITE' }
    ]);
    expect(document.body.querySelector('.jp-Dialog')).toBeNull();
    // sharing out does not change this project's datasets
    expect(refresh).not.toHaveBeenCalled();
  });

  it('changes a permission, unshares after confirmation, and publishes', async () => {
    server
      .on('PUT', '/api/projects/demo/datasets/Resources/shares/other', r => {
        const { permission } = JSON.parse(r.body) as {
          permission: Share['permission'];
        };
        world.outgoing.Resources = [
          share('demo::Resources', 'other', 'ACCEPTED', permission)
        ];
        return { body: world.outgoing.Resources[0] };
      })
      .on(
        'DELETE',
        '/api/projects/demo/datasets/Resources/shares/other',
        () => {
          world.outgoing.Resources = [];
          return { status: 204 };
        }
      )
      .on('PATCH', '/api/projects/demo/datasets/Logs', r => {
        const { public: value } = JSON.parse(r.body) as { public: boolean };
        world.own = [dataset('Logs', { public: value }), world.own[1]];
        return { body: world.own[0] };
      });
    await open();

    const select = row(
      '[data-target="other"] select'
    ) as HTMLSelectElement | null;
    expect(select?.getAttribute('aria-label')).toBe(
      'Permission of Resources for other'
    );
    select!.value = 'READ_WRITE';
    simulate(select!, 'change');
    await waitFor(
      () =>
        row('[data-target="other"]')?.getAttribute('data-permission') ===
        'READ_WRITE'
    );
    expect(
      JSON.parse(
        only('PUT', '/api/projects/demo/datasets/Resources/shares/other').body
      )
    ).toEqual({ permission: 'READ_WRITE' });

    button('Unshare Resources with other').click();
    await clickDialog('.jp-mod-warn');
    await waitFor(() =>
      row('[data-dataset="Resources"]')?.textContent?.includes('Not shared')
    );
    only('DELETE', '/api/projects/demo/datasets/Resources/shares/other');

    expect(
      section.node.querySelector('[aria-label="Publish Resources"]')
    ).toBeNull();
    button('Publish Logs').click();
    await waitFor(() => row('[data-dataset="Logs"] .hwl-share-public'));
    expect(
      JSON.parse(only('PATCH', '/api/projects/demo/datasets/Logs').body)
    ).toEqual({ public: true });
    expect(button('Unpublish Logs')).toBeTruthy();
    expect(notify).not.toHaveBeenCalled();
  });

  it('does not unshare when the user cancels', async () => {
    await open();
    button('Unshare Resources with other').click();
    await clickDialog('.jp-mod-reject');
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(server.find('DELETE', /.*/)).toHaveLength(0);
    expect(row('[data-target="other"]')).not.toBeNull();
  });

  it('lists the catalogue without what the project already has, and adds a dataset read-only', async () => {
    server.on('POST', '/api/projects/demo/shares', r => {
      const { dataset: ref } = JSON.parse(r.body) as { dataset: string };
      const added = share(ref, 'demo', 'ACCEPTED');
      world.incoming = [...world.incoming, added];
      return { status: 201, body: added };
    });
    await open();
    const listed = () =>
      Array.from(
        section.node.querySelectorAll('.hwl-sharing-catalogue [data-dataset]')
      ).map(n => n.getAttribute('data-dataset'));
    // its own published dataset and the one offered to it are not offered
    expect(listed()).toEqual(['other::Public', 'third::Open']);
    expect(row('[data-dataset="other::Public"]')?.textContent).toContain(
      'Open data'
    );

    button('Add other::Public to project').click();
    await waitFor(() => listed().length === 1);
    expect(listed()).toEqual(['third::Open']);
    expect(JSON.parse(only('POST', '/api/projects/demo/shares').body)).toEqual({
      dataset: 'other::Public'
    });
    expect(
      row('.hwl-share-incoming[data-dataset="other::Public"]')?.textContent
    ).toContain('read-only');
    expect(refresh).toHaveBeenCalled();
  });

  it('shows a Data Scientist the lists but none of the controls', async () => {
    await open('DATA_SCIENTIST');
    expect(row('[data-dataset="other::Data"]')).not.toBeNull();
    expect(
      row('[data-dataset="Resources"] [data-target="other"]')
    ).not.toBeNull();
    expect(row('[data-dataset="third::Open"]')).not.toBeNull();
    // the permission is shown as text, not as a select
    expect(row('[data-target="other"]')?.textContent).toContain('read-only');
    expect(section.node.querySelectorAll('button')).toHaveLength(0);
    expect(section.node.querySelectorAll('select')).toHaveLength(0);
  });

  it('shows load failures inline and notifies them once', async () => {
    server.json(
      'GET',
      '/api/datasets/public',
      {
        error: 'missing_scope',
        message: "the API key lacks the 'dataset.read' scope"
      },
      403
    );
    await open();
    const alert = await waitFor(() => row('[role="alert"]'));
    expect(alert.textContent).toContain("lacks the 'dataset.read' scope");
    expect(notify).toHaveBeenCalledTimes(1);
    // the rest is still shown
    expect(row('[data-dataset="other::Data"]')).not.toBeNull();
    await section.refresh();
    expect(notify).toHaveBeenCalledTimes(1);
  });

  it('renders long lists a page at a time', async () => {
    world.own = ['A', 'B', 'C'].map(name => dataset(name));
    await open('DATA_OWNER', 2);
    const own = () =>
      section.node.querySelectorAll('.hwl-sharing-own .hwl-share-dataset');
    expect(own()).toHaveLength(2);
    const more = row('.hwl-sharing-own .hwl-share-more') as HTMLButtonElement;
    expect(more.textContent).toContain('2 of 3');
    more.click();
    await waitFor(() => own().length === 3);
    expect(row('.hwl-sharing-own .hwl-share-more')).toBeNull();
  });
});

describe('showShareDialog', () => {
  it('resolves false and sends nothing when cancelled', async () => {
    const server = new FakeServer().install();
    try {
      const shared = showShareDialog({
        client: createApiClient(),
        project: 'demo',
        dataset: 'Logs'
      });
      const cancel = await waitFor(() =>
        document.body.querySelector<HTMLElement>('.jp-Dialog .jp-mod-reject')
      );
      simulate(cancel, 'click', { button: 0 });
      await expect(shared).resolves.toBe(false);
      expect(server.requests).toHaveLength(0);
    } finally {
      server.restore();
    }
  });
});
