import { Clipboard, Dialog, Notification } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { HopsworksModel, HopsworksPanel } from '../panel';
import { ProjectModel } from '../model';
import {
  certificateBundleFile,
  formatBytes,
  formatHours,
  usagePercent
} from '../projectInfo';
import { FakeServer } from './fakeServer';
import { type } from './dom';

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
  for (let i = 0; i < 200; i++) {
    const found = probe();
    if (found) {
      return found;
    }
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  throw new Error('timed out');
}

const QUOTA = {
  project: 'demo',
  bytes_limit: 10 * 1024 ** 3,
  files_limit: -1,
  bytes_used: 1.2 * 1024 ** 3,
  files_used: 1234,
  scanned_at: null
};

const COMPUTE = {
  project: 'demo',
  gpu_hours_limit: 100,
  cpu_hours_limit: -1,
  gpu_hours_used: 25,
  cpu_hours_used: 12.34,
  live_allocations: 0,
  gpus_in_use: 0,
  cpus_in_use: 0,
  as_of: '2024-01-01T00:00:00Z'
};

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
      },
      '/hopsworks/api/projects/demo/quotas': { status: 200, body: QUOTA },
      '/hopsworks/api/projects/demo/compute': { status: 200, body: COMPUTE }
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
    await waitFor(() => panel.node.querySelector('.hwl-usage-row'));
    expect(panel.node.querySelector('.hwl-error')).toBeNull();
    // context, user, projects, then the active project's quota and usage
    expect(server).toHaveBeenCalledTimes(5);
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
    // the server's project-bound key cannot create projects
    expect(panel.node.querySelector('.hwl-create-project-button')).toBeNull();
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

const CERT = {
  common_name: 'demo__alice',
  serial: '5f3a9c',
  not_after: new Date(Date.now() + 90.5 * 86_400_000).toISOString(),
  certificate: '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n',
  // no final newline: the bundle adds one between the parts
  private_key:
    '-----BEGIN ENCRYPTED PRIVATE KEY-----\nBBB\n-----END ENCRYPTED PRIVATE KEY-----',
  password: 's3cret-pass',
  ca: '-----BEGIN CERTIFICATE-----\nCCC\n-----END CERTIFICATE-----\n'
};

type ProjectRow = {
  name: string;
  description: string;
  owner: string;
  created_at: string;
  role: 'DATA_OWNER' | 'DATA_SCIENTIST' | null;
};

function project(name: string, description = ''): ProjectRow {
  return {
    name,
    description,
    owner: 'alice',
    created_at: '2024-01-01T00:00:00Z',
    role: 'DATA_OWNER'
  };
}

/**
 * A standalone server where alice owns `projects` (the array is live: a
 * route may add to it).
 */
function demoServer(projects: ProjectRow[] = [project('demo')]): FakeServer {
  return new FakeServer()
    .json('GET', '/api/users/me', alice)
    .on('GET', '/api/projects', () => ({
      body: { count: projects.length, items: projects }
    }))
    .json('GET', '/api/projects/demo/quotas', QUOTA)
    .json('GET', '/api/projects/demo/compute', COMPUTE)
    .json('GET', '/api/projects/demo/certificates/me', CERT);
}

function button(root: ParentNode, selector: string): HTMLButtonElement {
  const found = root.querySelector<HTMLButtonElement>(selector);
  if (!found) {
    throw new Error(`no ${selector}`);
  }
  return found;
}

function readBlob(blob: Blob): Promise<string> {
  return new Promise(resolve => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.readAsText(blob);
  });
}

describe('The Project section', () => {
  let server: FakeServer;
  let panel: HopsworksPanel;
  let notifyError: jest.SpyInstance;

  beforeEach(() => {
    notifyError = jest.spyOn(Notification, 'error');
  });

  afterEach(() => {
    Dialog.flush();
    panel.dispose();
    server.restore();
    jest.restoreAllMocks();
  });

  async function open(): Promise<void> {
    panel = new HopsworksPanel();
    Widget.attach(panel, document.body);
    await panel.refresh();
    await waitFor(() => panel.node.querySelector('.hwl-usage-row'));
  }

  function row(kind: string): HTMLElement {
    return panel.node.querySelector(
      `.hwl-usage-row[data-usage="${kind}"]`
    ) as HTMLElement;
  }

  it('shows the storage quota and compute usage, with bars only for limits', async () => {
    server = demoServer().install();
    await open();

    const storage = row('storage');
    expect(storage.textContent).toContain('1.2 GiB of 10 GiB');
    expect(
      storage
        .querySelector('[role="progressbar"]')
        ?.getAttribute('aria-valuenow')
    ).toBe('12');
    // -1: unlimited, and no bar
    const files = row('files');
    expect(files.textContent).toContain('1,234 used, unlimited');
    expect(files.querySelector('[role="progressbar"]')).toBeNull();
    const gpu = row('gpu-hours');
    expect(gpu.textContent).toContain('25 h of 100 h');
    expect(
      gpu.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')
    ).toBe('25');
    const cpu = row('cpu-hours');
    expect(cpu.textContent).toContain('12.3 h used, unlimited');
    expect(cpu.querySelector('[role="progressbar"]')).toBeNull();
    // the certificate is not read (an audited read) until asked for
    expect(server.find('GET', '/api/projects/demo/certificates/me')).toEqual(
      []
    );
    expect(notifyError).not.toHaveBeenCalled();
  });

  it('shows a quota that cannot be read, and says so once', async () => {
    server = demoServer()
      .json(
        'GET',
        '/api/projects/demo/quotas',
        { error: 'forbidden', message: 'not allowed to read the quota' },
        403
      )
      .install();
    await open();
    const alert = await waitFor(() =>
      panel.node.querySelector('.hwl-usage [role="alert"]')
    );
    expect(alert.textContent).toContain('not allowed to read the quota');
    // the compute usage still shows
    expect(row('gpu-hours')).not.toBeNull();
    await panel.refresh(); // e.g. the periodic refresh: no second toast
    expect(notifyError).toHaveBeenCalledTimes(1);
    expect(notifyError.mock.calls[0][0]).toContain(
      'not allowed to read the quota'
    );
  });

  it('downloads the certificate bundle as one PEM file and copies the key password', async () => {
    server = demoServer().install();
    await open();
    const blobs: Blob[] = [];
    const downloads: string[] = [];
    URL.createObjectURL = jest.fn((blob: Blob) => {
      blobs.push(blob);
      return 'blob:bundle';
    });
    URL.revokeObjectURL = jest.fn();
    jest
      .spyOn(HTMLAnchorElement.prototype, 'click')
      .mockImplementation(function (this: HTMLAnchorElement) {
        downloads.push(this.download);
      });
    const copy = jest
      .spyOn(Clipboard, 'copyToSystem')
      .mockImplementation(() => undefined);
    jest.spyOn(Notification, 'info').mockImplementation(() => '');

    button(panel.node, '.hwl-cert-download').click();
    await waitFor(() => downloads.length > 0);
    expect(downloads).toEqual(['demo__alice.pem']);
    expect(await readBlob(blobs[0])).toBe(
      CERT.certificate + CERT.private_key + '\n' + CERT.ca
    );

    // the details show once loaded; the password only when asked
    const details = await waitFor(() =>
      panel.node.querySelector('.hwl-cert-details')
    );
    expect(details.querySelector('.hwl-cert-cn')?.textContent).toBe(
      'demo__alice'
    );
    expect(details.querySelector('.hwl-cert-serial')?.textContent).toBe(
      '5f3a9c'
    );
    expect(details.querySelector('.hwl-cert-expiry')?.textContent).toContain(
      'in 90 days'
    );
    expect(details.textContent).not.toContain('s3cret-pass');
    button(details, '.hwl-cert-reveal').click();
    await waitFor(() =>
      panel.node
        .querySelector('.hwl-cert-password')
        ?.textContent?.includes('s3cret-pass')
    );
    button(panel.node, '.hwl-cert-copy').click();
    await waitFor(() => copy.mock.calls.length > 0);
    expect(copy).toHaveBeenCalledWith('s3cret-pass');
    // read once, not on every click
    expect(
      server.find('GET', '/api/projects/demo/certificates/me')
    ).toHaveLength(1);
  });

  it('creates a project that becomes the active one', async () => {
    const projects = [project('demo')];
    server = demoServer(projects)
      .on('POST', '/api/projects', request => {
        const body = JSON.parse(request.body);
        const created = project(body.name, body.description);
        projects.push(created);
        return { status: 201, body: created };
      })
      .json('GET', '/api/projects/fraud/quotas', { ...QUOTA, project: 'fraud' })
      .json('GET', '/api/projects/fraud/compute', {
        ...COMPUTE,
        project: 'fraud'
      })
      .install();
    await open();
    expect(panel.model.projects.activeProject).toBe('demo');

    button(panel.node, '.hwl-create-project-button').click();
    const name = await waitFor(() =>
      document.querySelector<HTMLInputElement>(
        '.jp-Dialog .hwl-create-project-name'
      )
    );
    type(name, 'fraud');
    type(
      document.querySelector<HTMLTextAreaElement>(
        '.jp-Dialog .hwl-create-project-description'
      )!,
      'Fraud detection'
    );
    button(document, '.jp-Dialog .jp-mod-accept').click();

    await waitFor(() => panel.model.projects.activeProject === 'fraud');
    const posts = server.find('POST', '/api/projects');
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0].body)).toEqual({
      name: 'fraud',
      description: 'Fraud detection'
    });
    const select = await waitFor(() =>
      panel.node.querySelector<HTMLSelectElement>(
        'select.hwl-project-select option[value="fraud"]'
      )
    );
    expect((select.parentElement as HTMLSelectElement).value).toBe('fraud');
    expect(
      panel.node.querySelector('.hwl-project[data-project="fraud"]')
    ).not.toBeNull();
    // and its usage is shown
    await waitFor(() => panel.info.state.project === 'fraud');
    expect(document.querySelector('.jp-Dialog')).toBeNull();
  });

  it('keeps everything as it was when the server refuses the new project', async () => {
    server = demoServer()
      .json(
        'POST',
        '/api/projects',
        { error: 'conflict', message: 'project demo already exists' },
        409
      )
      .install();
    await open();

    button(panel.node, '.hwl-create-project-button').click();
    let name = await waitFor(() =>
      document.querySelector<HTMLInputElement>(
        '.jp-Dialog .hwl-create-project-name'
      )
    );
    // a name the server would refuse is explained without asking it
    type(name, 'Not OK');
    button(document, '.jp-Dialog .jp-mod-accept').click();
    let alert = await waitFor(() =>
      document.querySelector('.jp-Dialog [role="alert"]')
    );
    expect(alert.textContent).toContain('lowercase letters');
    expect(server.find('POST', '/api/projects')).toHaveLength(0);

    name = document.querySelector<HTMLInputElement>(
      '.jp-Dialog .hwl-create-project-name'
    )!;
    expect(name.value).toBe('Not OK');
    type(name, 'demo');
    button(document, '.jp-Dialog .jp-mod-accept').click();
    alert = await waitFor(() => {
      const found = document.querySelector('.jp-Dialog [role="alert"]');
      return found?.textContent?.includes('already exists') ? found : null;
    });
    expect(notifyError).toHaveBeenCalledTimes(1);
    expect(notifyError.mock.calls[0][0]).toContain(
      'project demo already exists'
    );
    // what the user typed is still there; they give up
    expect(
      document.querySelector<HTMLInputElement>(
        '.jp-Dialog .hwl-create-project-name'
      )!.value
    ).toBe('demo');
    button(document, '.jp-Dialog .jp-mod-reject').click();
    await waitFor(() => document.querySelector('.jp-Dialog') === null);
    expect(server.find('POST', '/api/projects')).toHaveLength(1);
    expect(panel.model.projects.activeProject).toBe('demo');
    expect(panel.node.querySelectorAll('.hwl-project')).toHaveLength(1);
  });
});

describe('Project usage helpers', () => {
  it('writes sizes and hours for people', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2 KiB');
    expect(formatBytes(1.25 * 1024 ** 3)).toBe('1.3 GiB');
    expect(formatHours(0.04)).toBe('0 h');
    expect(formatHours(1234.56)).toBe('1,234.6 h');
  });

  it('has no bar for an unlimited (-1) limit and caps an exceeded one', () => {
    expect(usagePercent(10, -1)).toBeNull();
    expect(usagePercent(5, 10)).toBe(50);
    expect(usagePercent(20, 10)).toBe(100);
    expect(usagePercent(1, 0)).toBe(100);
  });

  it('puts the certificate, the encrypted key and the CA in one file', () => {
    const file = certificateBundleFile('demo', 'alice', CERT);
    expect(file.name).toBe('demo__alice.pem');
    expect(file.content.split('-----BEGIN ')).toHaveLength(4);
    expect(file.content).toContain(
      'END ENCRYPTED PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nCCC'
    );
    expect(file.content.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
  });
});
