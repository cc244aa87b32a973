import { Widget } from '@lumino/widgets';

import { HopsworksModel, HopsworksPanel } from '../panel';
import { ProjectModel } from '../model';

type Routes = Record<string, { status: number; body: unknown }>;

const STANDALONE = {
  '/hopsworks/context': {
    status: 200,
    body: {
      mode: 'standalone',
      project: null,
      version: '0.1.0',
      api_version: 1
    }
  }
};

function mockServer(routes: Routes): jest.Mock {
  const mock = jest.fn(async (request: Request) => {
    const path = new URL(request.url).pathname;
    const route = routes[path] ?? {
      status: 404,
      body: { error: 'not_found', message: `no route ${path}` }
    };
    return new Response(JSON.stringify(route.body), {
      status: route.status,
      headers: { 'Content-Type': 'application/json' }
    });
  });
  globalThis.fetch = mock as unknown as typeof fetch;
  return mock;
}

async function waitFor<T>(probe: () => T | null | undefined): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const found = probe();
    if (found) {
      return found;
    }
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  throw new Error('timed out');
}

const alice = {
  username: 'alice',
  email: 'alice@example.com',
  is_admin: true,
  status: 'active',
  totp_enabled: false,
  created_at: '2024-01-01T00:00:00Z'
};

describe('HopsworksPanel', () => {
  const realFetch = globalThis.fetch;
  let panel: HopsworksPanel;

  afterEach(() => {
    panel.dispose();
    globalThis.fetch = realFetch;
  });

  it('shows the user and their projects', async () => {
    const server = mockServer({
      ...STANDALONE,
      '/hopsworks/api/users/me': { status: 200, body: alice },
      '/hopsworks/api/projects': {
        status: 200,
        body: {
          count: 2,
          items: [
            {
              name: 'demo',
              description: 'A demo project',
              owner: 'alice',
              created_at: '2024-01-01T00:00:00Z',
              role: 'DATA_OWNER'
            },
            {
              name: 'other',
              description: '',
              owner: 'bob',
              created_at: '2024-01-01T00:00:00Z',
              role: null
            }
          ]
        }
      }
    });
    panel = new HopsworksPanel();
    Widget.attach(panel, document.body);
    void panel.refresh();

    const user = await waitFor(() => panel.node.querySelector('.hwl-user'));
    expect(user.textContent).toContain('alice');
    expect(user.textContent).toContain('admin');
    const rows = panel.node.querySelectorAll('.hwl-project');
    expect(rows).toHaveLength(2);
    const demo = panel.node.querySelector('.hwl-project[data-project="demo"]');
    expect(demo?.querySelector('.hwl-role')?.textContent).toBe('DATA_OWNER');
    expect(demo?.textContent).toContain('A demo project');
    expect(panel.node.querySelector('.hwl-error')).toBeNull();
    expect(server).toHaveBeenCalledTimes(3);
    // every request says which API version the panel speaks
    for (const [request] of server.mock.calls) {
      expect((request as Request).headers.get('X-Hopsworks-Api-Version')).toBe(
        '1'
      );
    }
    // standalone: the active project is picked among the user's projects
    const select = panel.node.querySelector(
      'select.hwl-project-select'
    ) as HTMLSelectElement;
    expect(select).not.toBeNull();
    expect(Array.from(select.options).map(o => o.value)).toEqual(['demo']);
    expect(select.value).toBe('demo');
    expect(panel.model.projects.activeProject).toBe('demo');
    expect(demo?.classList.contains('hwl-project-active')).toBe(true);
  });

  it('shows the error message when a request fails', async () => {
    mockServer({
      ...STANDALONE,
      '/hopsworks/api/users/me': {
        status: 401,
        body: { error: 'unauthorized', message: 'Sign in first' }
      },
      '/hopsworks/api/projects': {
        status: 401,
        body: { error: 'unauthorized', message: 'Sign in first' }
      }
    });
    panel = new HopsworksPanel();
    Widget.attach(panel, document.body);
    void panel.refresh();

    const error = await waitFor(() => panel.node.querySelector('.hwl-error'));
    expect(error.textContent).toContain('Sign in first');
    expect(panel.node.querySelectorAll('.hwl-error-message')).toHaveLength(1);
    expect(panel.node.querySelector('.hwl-user')).toBeNull();
  });

  it("shows the server's project in hub mode, without a choice", async () => {
    mockServer({
      '/hopsworks/context': {
        status: 200,
        body: { mode: 'hub', project: 'demo', version: '0.1.0', api_version: 1 }
      },
      '/hopsworks/api/users/me': { status: 200, body: alice },
      '/hopsworks/api/projects': {
        status: 200,
        body: {
          count: 2,
          items: [
            {
              name: 'demo',
              description: '',
              owner: 'alice',
              created_at: '',
              role: 'DATA_SCIENTIST'
            },
            {
              name: 'other',
              description: '',
              owner: 'alice',
              created_at: '',
              role: 'DATA_OWNER'
            }
          ]
        }
      }
    });
    const projects = new ProjectModel();
    panel = new HopsworksPanel({ model: new HopsworksModel({ projects }) });
    Widget.attach(panel, document.body);
    void panel.refresh();

    const active = await waitFor(() =>
      panel.node.querySelector('.hwl-active-project')
    );
    expect(active.getAttribute('data-mode')).toBe('hub');
    expect(active.getAttribute('data-project')).toBe('demo');
    expect(active.textContent).toContain('demo');
    expect(panel.node.querySelector('select')).toBeNull();
    expect(projects.activeProject).toBe('demo');
    expect(projects.locked).toBe(true);
    projects.select('other');
    expect(projects.activeProject).toBe('demo');
  });

  it('says so when the server speaks another API version', async () => {
    const server = mockServer({
      '/hopsworks/context': {
        status: 200,
        body: { mode: 'hub', project: 'demo', version: '0.9.0', api_version: 2 }
      }
    });
    panel = new HopsworksPanel();
    Widget.attach(panel, document.body);
    void panel.refresh();

    const message = await waitFor(() =>
      panel.node.querySelector('.hwl-mismatch')
    );
    expect(message.textContent).toContain(
      'This Hopsworks panel (API v1, hopsworks-lab 0.1.0) does not match the server (API v2 (hopsworks-lab 0.9.0))'
    );
    expect(message.textContent).toContain('reload the page');
    // nothing else is asked of a server that speaks another version
    expect(server).toHaveBeenCalledTimes(1);
    expect(panel.node.querySelector('.hwl-error')).toBeNull();
  });

  it('takes a 409 version_mismatch (or no context at all) as a mismatch', async () => {
    mockServer({
      '/hopsworks/context': {
        status: 409,
        body: {
          error: 'version_mismatch',
          message: 'this client speaks API v1 but the server speaks API v2',
          version: '0.9.0',
          api_version: 2
        }
      }
    });
    panel = new HopsworksPanel();
    Widget.attach(panel, document.body);
    void panel.refresh();
    const message = await waitFor(() =>
      panel.node.querySelector('.hwl-mismatch')
    );
    expect(message.textContent).toContain('the server (API v2');
    panel.dispose();

    mockServer({}); // an older server: no hopsworks/context
    panel = new HopsworksPanel();
    Widget.attach(panel, document.body);
    void panel.refresh();
    const old = await waitFor(() => panel.node.querySelector('.hwl-mismatch'));
    expect(old.textContent).toContain('does not match the server (API ?)');
  });
});
