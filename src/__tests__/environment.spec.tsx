import { Dialog, Notification } from '@jupyterlab/apputils';
import { nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import {
  EnvironmentOperation,
  EnvironmentPackage,
  EnvironmentPanel,
  installRequest
} from '../environment';
import { HopsworksModel } from '../panel';
import { HopsworksSidebar } from '../sidebar';
import { FakeServer, IFakeRequest, waitFor } from './fakeServer';
import { choose, q, sleep, type } from './dom';

type Role = 'DATA_OWNER' | 'DATA_SCIENTIST';
type Status = EnvironmentOperation['status'];

const T = '2024-01-01T00:00:00Z';
const trans = nullTranslator.load('hopsworks_lab');

function pkg(
  name: string,
  version: string,
  source: 'project' | 'base',
  base_version: string | null = null
): EnvironmentPackage {
  return { name, version, source, base_version };
}

function operation(
  id: number,
  status: Status,
  extra: Partial<EnvironmentOperation> = {}
): EnvironmentOperation {
  return {
    id,
    project: 'demo',
    op: 'install',
    packages: ['rich'],
    requirements: null,
    wheel: null,
    status,
    requested_by: 'alice',
    created_at: T,
    started_at: null,
    finished_at: null,
    message: null,
    generation: null,
    problems: [],
    added: [],
    removed: [],
    changed: [],
    ...extra
  };
}

/**
 * The platform side of project demo's environment: the read routes answer
 * from the current state, an install is queued as a new operation, and
 * each operation's log is served from `logs` by byte offset, at most
 * `chunk` bytes a read.
 */
class World {
  packages: EnvironmentPackage[] = [
    pkg('numpy', '1.26.4', 'base'),
    pkg('requests', '2.32.0', 'project', '2.31.0'),
    pkg('pandas', '2.2.1', 'base')
  ];
  problems: string[] = [];
  operations: EnvironmentOperation[] = [];
  logs: Record<number, string> = {};
  chunk = 1 << 20;
  /**
   * Whether the log's position and status headers reach the browser.
   */
  logHeaders = true;
  nextId = 7;

  server(me: string, role: Role): FakeServer {
    return new FakeServer()
      .json('GET', '/api/users/me', {
        username: me,
        email: null,
        is_admin: false,
        status: 'active',
        totp_enabled: false,
        created_at: T
      })
      .json('GET', '/api/projects', {
        count: 1,
        items: [
          { name: 'demo', description: '', owner: 'alice', created_at: T, role }
        ]
      })
      .on('GET', '/api/projects/demo/environment', () => ({
        body: {
          project: 'demo',
          python: '/envs/demo/current/bin/python',
          python_version: '3.12.3',
          base_python: '/usr/bin/python3',
          generation: 2,
          packages: this.packages,
          problems: this.problems,
          pending: this.operations.filter(
            op => op.status === 'QUEUED' || op.status === 'RUNNING'
          ).length
        }
      }))
      .on('GET', '/api/projects/demo/environment/operations', () => ({
        body: { count: this.operations.length, items: this.operations }
      }))
      .on(
        'POST',
        '/api/projects/demo/environment/operations',
        (request: IFakeRequest) => {
          const body = JSON.parse(request.body);
          const op = operation(this.nextId++, 'QUEUED', {
            op: body.op,
            packages: body.packages ?? null,
            requirements: body.requirements ?? null,
            wheel: body.wheel ?? null
          });
          this.operations.unshift(op);
          this.logs[op.id] = '';
          return { status: 202, body: op };
        }
      )
      .on(
        'GET',
        /^\/api\/projects\/demo\/environment\/operations\/(\d+)\/log$/,
        (request, match) => {
          const id = Number(match[1]);
          const bytes = new TextEncoder().encode(this.logs[id] ?? '');
          const offset = Math.min(
            Number(request.query.get('offset') ?? 0),
            bytes.length
          );
          const data = bytes.slice(offset, offset + this.chunk);
          const op = this.operations.find(o => o.id === id)!;
          const headers: Record<string, string> = {
            'Content-Type': 'text/plain; charset=UTF-8'
          };
          if (this.logHeaders) {
            headers['X-Log-Offset'] = String(offset + data.length);
            headers['X-Log-Size'] = String(bytes.length);
            headers['X-Operation-Status'] = op.status;
          }
          return { body: data, headers };
        }
      );
  }

  /**
   * Move operation `id` on, as the platform's worker would.
   */
  set(id: number, status: Status, extra: Partial<EnvironmentOperation> = {}) {
    const op = this.operations.find(o => o.id === id)!;
    Object.assign(op, { status, ...extra });
  }
}

describe('installRequest', () => {
  it('reads requirements separated by white space and refuses garbage', () => {
    expect(
      installRequest(
        { kind: 'packages', text: ' rich>=13,<14\n attrs ' },
        trans
      )
    ).toEqual({
      request: { op: 'install', packages: ['rich>=13,<14', 'attrs'] }
    });
    expect(
      installRequest({ kind: 'packages', text: 'rich; rm -rf /' }, trans)
    ).toHaveProperty('problem');
    expect(
      installRequest({ kind: 'wheel', text: 'Resources/a.tar.gz' }, trans)
    ).toHaveProperty('problem');
    expect(
      installRequest({ kind: 'requirements', text: 'requirements.txt' }, trans)
    ).toHaveProperty('problem');
  });
});

describe('The Environment section', () => {
  let world: World;
  let fake: FakeServer;
  let sidebar: HopsworksSidebar;
  let panel: EnvironmentPanel;
  let notifyError: jest.SpyInstance;

  beforeEach(() => {
    world = new World();
    notifyError = jest.spyOn(Notification, 'error');
  });

  afterEach(() => {
    Dialog.flush();
    sidebar.dispose();
    fake.restore();
    jest.restoreAllMocks();
  });

  async function open(me: string, role: Role) {
    fake = world.server(me, role).install();
    const model = new HopsworksModel();
    sidebar = new HopsworksSidebar({ model, client: model.client });
    panel = new EnvironmentPanel({ sidebar, pollInterval: 10 });
    sidebar.addSection(panel, 500);
    Widget.attach(sidebar, document.body);
    sidebar.refresh();
    await waitFor(() => q(panel.node, '.hwl-package'));
    await waitFor(() => model.role !== null);
  }

  function row(name: string): HTMLElement | null {
    return q(panel.node, `.hwl-package[data-package="${name}"]`);
  }

  function opRow(id: number): HTMLElement | null {
    return q(panel.node, `.hwl-env-operation[data-operation="${id}"]`);
  }

  function logRequests(id: number): IFakeRequest[] {
    return fake.find(
      'GET',
      `/api/projects/demo/environment/operations/${id}/log`
    );
  }

  it("lists the packages, the project's first, with a filter and pip check's problems", async () => {
    world.problems = [
      'requests 2.32.0 requires idna<4, but idna 4.0 is installed'
    ];
    await open('alice', 'DATA_OWNER');
    expect(panel.node.textContent).toContain('Python 3.12.3');
    const names = Array.from(panel.node.querySelectorAll('.hwl-package')).map(
      r => r.getAttribute('data-package')
    );
    expect(names).toEqual(['requests', 'numpy', 'pandas']);
    expect(row('requests')?.getAttribute('data-source')).toBe('project');
    expect(row('requests')?.textContent).toContain('base 2.31.0');
    expect(row('numpy')?.getAttribute('data-source')).toBe('base');
    expect(q(panel.node, '.hwl-env-problems')?.textContent).toContain(
      'requires idna<4'
    );

    type(q<HTMLInputElement>(panel.node, '.hwl-env-filter')!, 'NUM');
    await waitFor(() => row('pandas') === null);
    expect(row('numpy')).not.toBeNull();
    expect(row('requests')).toBeNull();
  });

  it('installs what a Data Owner asks for and follows the log until the operation ends', async () => {
    await open('alice', 'DATA_OWNER');
    const form = q(panel.node, '.hwl-env-install-form')!;
    type(
      q<HTMLInputElement>(form, '.hwl-env-install-input')!,
      'rich==13.7.1  pydantic>=2,<3'
    );
    const install = q<HTMLButtonElement>(form, 'button[aria-label="Install"]')!;
    await waitFor(() => !install.disabled);
    install.click();

    await waitFor(() => opRow(7));
    const posts = fake.find(
      'POST',
      '/api/projects/demo/environment/operations'
    );
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0].body)).toEqual({
      op: 'install',
      packages: ['rich==13.7.1', 'pydantic>=2,<3']
    });
    expect(opRow(7)?.getAttribute('data-status')).toBe('QUEUED');

    // the worker starts: the log grows while it runs
    world.set(7, 'RUNNING');
    world.logs[7] = 'Resolved 2 packages\n';
    const pre = await waitFor(() => q(opRow(7)!, 'pre.hwl-env-log-text'));
    await waitFor(() => pre.textContent?.includes('Resolved 2 packages'));
    await waitFor(() => opRow(7)?.getAttribute('data-status') === 'RUNNING');

    world.logs[7] += 'Installed 2 packages\n';
    world.packages = [...world.packages, pkg('rich', '13.7.1', 'project')];
    world.set(7, 'SUCCEEDED', {
      message: 'installed rich, pydantic',
      added: ['rich==13.7.1']
    });
    await waitFor(() => opRow(7)?.getAttribute('data-status') === 'SUCCEEDED');
    await waitFor(() => pre.getAttribute('data-complete') === 'true');
    expect(pre.textContent).toBe('Resolved 2 packages\nInstalled 2 packages\n');
    // the environment is read again: the new package is listed
    await waitFor(() => row('rich'));

    // each read went on from where the previous one ended
    const offsets = logRequests(7).map(r => Number(r.query.get('offset')));
    expect(offsets[0]).toBe(0);
    expect(offsets).toContain(20);
    expect(offsets.every((o, i) => i === 0 || o >= offsets[i - 1])).toBe(true);

    // done: nothing more is asked for
    const logs = logRequests(7).length;
    const lists = fake.find(
      'GET',
      '/api/projects/demo/environment/operations'
    ).length;
    await sleep(80);
    expect(logRequests(7)).toHaveLength(logs);
    expect(
      fake.find('GET', '/api/projects/demo/environment/operations')
    ).toHaveLength(lists);
    expect(notifyError).not.toHaveBeenCalled();
  });

  it('decodes a character cut between two reads of the log', async () => {
    world.operations = [operation(3, 'SUCCEEDED')];
    world.logs[3] = 'café ✓ done\n';
    world.chunk = 4;
    await open('alice', 'DATA_OWNER');
    q<HTMLButtonElement>(
      opRow(3)!,
      'button[aria-label="Log of operation 3"]'
    )!.click();
    const pre = await waitFor(() =>
      q(opRow(3)!, 'pre.hwl-env-log-text[data-complete="true"]')
    );
    expect(pre.textContent).toBe('café ✓ done\n');
  });

  it('follows a log to its end without the position and status headers', async () => {
    // a lab server's proxy that relays only standard headers
    world.logHeaders = false;
    world.chunk = 8;
    world.operations = [operation(9, 'RUNNING')];
    world.logs[9] = 'Resolved 1 package\n';
    await open('alice', 'DATA_OWNER');
    q<HTMLButtonElement>(
      opRow(9)!,
      'button[aria-label="Log of operation 9"]'
    )!.click();
    const pre = await waitFor(() => q(opRow(9)!, 'pre.hwl-env-log-text'));
    await waitFor(() => pre.textContent === 'Resolved 1 package\n');
    world.logs[9] += 'Installed 1 package\n';
    world.set(9, 'SUCCEEDED');
    await waitFor(() => pre.getAttribute('data-complete') === 'true');
    expect(pre.textContent).toBe('Resolved 1 package\nInstalled 1 package\n');
    const reads = logRequests(9).length;
    await sleep(80);
    expect(logRequests(9)).toHaveLength(reads);
  });

  it('installs a wheel from a dataset and uninstalls a package after confirming', async () => {
    await open('alice', 'DATA_OWNER');
    const form = q(panel.node, '.hwl-env-install-form')!;
    choose(q<HTMLSelectElement>(form, '.hwl-env-install-kind')!, 'wheel');
    type(
      q<HTMLInputElement>(form, '.hwl-env-install-input')!,
      'Resources/dist/mylib-1.0-py3-none-any.whl'
    );
    const install = q<HTMLButtonElement>(form, 'button[aria-label="Install"]')!;
    await waitFor(() => !install.disabled);
    install.click();
    await waitFor(() => opRow(7));
    expect(
      JSON.parse(
        fake.find('POST', '/api/projects/demo/environment/operations')[0].body
      )
    ).toEqual({
      op: 'install',
      wheel: 'Resources/dist/mylib-1.0-py3-none-any.whl'
    });

    // only the project's own packages can be uninstalled
    expect(q(row('numpy')!, '.hwl-package-uninstall')).toBeNull();
    q<HTMLButtonElement>(
      row('requests')!,
      'button[aria-label="Uninstall requests"]'
    )!.click();
    await waitFor(() => document.querySelector('.jp-Dialog .jp-mod-warn'));
    document
      .querySelector<HTMLButtonElement>('.jp-Dialog .jp-mod-warn')!
      .click();
    await waitFor(() => opRow(8));
    expect(
      JSON.parse(
        fake.find('POST', '/api/projects/demo/environment/operations')[1].body
      )
    ).toEqual({ op: 'uninstall', packages: ['requests'] });
  });

  it('shows a Data Scientist the lists and logs without install or uninstall', async () => {
    world.operations = [
      operation(2, 'FAILED', {
        message: 'No solution found when resolving: nosuchpkg',
        packages: ['nosuchpkg']
      }),
      operation(1, 'SUCCEEDED', { message: 'installed requests' })
    ];
    world.logs[2] = 'error: nosuchpkg was not found\n';
    await open('bob', 'DATA_SCIENTIST');
    expect(row('requests')).not.toBeNull();
    expect(q(panel.node, '.hwl-env-install-form')).toBeNull();
    expect(q(panel.node, '.hwl-package-uninstall')).toBeNull();
    expect(q(panel.node, 'button[aria-label="Install"]')).toBeNull();

    // newest first; the failed one says why, as an alert
    const ids = Array.from(
      panel.node.querySelectorAll('.hwl-env-operation')
    ).map(r => r.getAttribute('data-operation'));
    expect(ids).toEqual(['2', '1']);
    expect(q(opRow(2)!, '[role="alert"]')?.textContent).toContain(
      'No solution found'
    );
    expect(q(opRow(1)!, '[role="alert"]')).toBeNull();

    q<HTMLButtonElement>(
      opRow(2)!,
      'button[aria-label="Log of operation 2"]'
    )!.click();
    await waitFor(() =>
      q(opRow(2)!, 'pre')?.textContent?.includes('nosuchpkg was not found')
    );
    expect(fake.find('POST', /environment\/operations$/)).toEqual([]);
  });

  it('stops polling while the section is hidden and once it is disposed', async () => {
    world.operations = [operation(5, 'RUNNING')];
    world.logs[5] = 'Resolving…\n';
    await open('alice', 'DATA_OWNER');
    q<HTMLButtonElement>(
      opRow(5)!,
      'button[aria-label="Log of operation 5"]'
    )!.click();
    await waitFor(() => logRequests(5).length >= 3);

    panel.hide();
    await sleep(30);
    const hidden = logRequests(5).length;
    await sleep(80);
    expect(logRequests(5)).toHaveLength(hidden);

    panel.show();
    await waitFor(() => logRequests(5).length > hidden + 1);

    panel.dispose();
    await sleep(30);
    const disposed = logRequests(5).length;
    await sleep(80);
    expect(logRequests(5)).toHaveLength(disposed);
  });

  it('says once why the environment cannot be read', async () => {
    await open('alice', 'DATA_OWNER');
    fake.json(
      'GET',
      '/api/projects/demo/environment',
      { error: 'env_broken', message: 'uv failed to create the environment' },
      409
    );
    sidebar.refresh();
    const alert = await waitFor(() =>
      q(panel.node, '.hwl-error[role="alert"]')
    );
    expect(alert.textContent).toContain('uv failed to create the environment');
    const gets = fake.find('GET', '/api/projects/demo/environment').length;
    sidebar.refresh();
    await waitFor(
      () => fake.find('GET', '/api/projects/demo/environment').length > gets
    );
    await sleep(20);
    expect(notifyError).toHaveBeenCalledTimes(1);
  });
});
