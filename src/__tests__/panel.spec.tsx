import { Widget } from '@lumino/widgets';

import { HopsworksPanel, PANEL_ID } from '../panel';

type Routes = Record<string, { status: number; body: unknown }>;

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
    expect(panel.node.id).toBe(PANEL_ID);

    const user = await waitFor(() => panel.node.querySelector('.hwl-user'));
    expect(user.textContent).toContain('alice');
    expect(user.textContent).toContain('admin');
    const rows = panel.node.querySelectorAll('.hwl-project');
    expect(rows).toHaveLength(2);
    const demo = panel.node.querySelector('.hwl-project[data-project="demo"]');
    expect(demo?.querySelector('.hwl-role')?.textContent).toBe('DATA_OWNER');
    expect(demo?.textContent).toContain('A demo project');
    expect(panel.node.querySelector('.hwl-error')).toBeNull();
    expect(server).toHaveBeenCalledTimes(2);
  });

  it('shows the error message when a request fails', async () => {
    mockServer({
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

    const error = await waitFor(() => panel.node.querySelector('.hwl-error'));
    expect(error.textContent).toContain('Sign in first');
    expect(panel.node.querySelectorAll('.hwl-error-message')).toHaveLength(1);
    expect(panel.node.querySelector('.hwl-user')).toBeNull();
  });
});
