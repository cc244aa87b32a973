import { Clipboard, Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { ProjectRole } from '../api';
import { ApiClient, createApiClient } from '../client';
import { DatasetsSection } from '../datasets';
import { ProjectModel } from '../model';
import { HopsworksModel } from '../panel';
import { IHopsworksSidebar, IPreferences } from '../sidebar';
import { FakeServer, IFakeRequest, waitFor } from './fakeServer';
import { FakeXHR } from './fakeXhr';

const OWNER_RIGHTS = {
  write: true,
  download: true,
  manage: true,
  delete: true
};

function dataset(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    owner_project: 'demo',
    description: '',
    preset: 'OWNER_ONLY',
    public: false,
    shared: false,
    permission: null,
    status: null,
    created_at: '2024-01-01T00:00:00Z',
    rights: OWNER_RIGHTS,
    ...extra
  };
}

function file(path: string, size = 1536, type: 'file' | 'dir' = 'file') {
  return {
    name: path.split('/').pop(),
    path,
    type,
    size,
    modified: '2024-01-01T00:00:00Z'
  };
}

/**
 * A folder listing answered page by page from `entries`.
 */
function listing(path: string, entries: ReturnType<typeof file>[]) {
  return (request: IFakeRequest) => {
    const offset = Number(request.query.get('offset') ?? 0);
    const limit = Number(request.query.get('limit') ?? 1000);
    const items = entries.slice(offset, offset + limit);
    return {
      body: {
        path,
        type: 'dir',
        items,
        count: items.length,
        total: entries.length
      }
    };
  };
}

/**
 * The parts of the sidebar a section uses.
 */
class FakeSidebar implements IHopsworksSidebar {
  constructor(
    readonly model: HopsworksModel,
    readonly client: ApiClient
  ) {}

  readonly id = 'hopsworks-test';
  readonly preferences: IPreferences = { pageSize: 2, refreshInterval: 0 };

  get refreshRequested(): ISignal<this, void> {
    return this._refreshRequested;
  }

  addSection(): void {
    // not in a sidebar
  }

  refresh(): void {
    this._refreshRequested.emit();
  }

  private _refreshRequested = new Signal<this, void>(this);
}

/**
 * The project `demo` where the user has `role`; its datasets: Resources and
 * Jupyter (own), other::shared (read-only, accepted), other::offered
 * (pending). Resources holds five files.
 */
function demoServer(role: ProjectRole, rights = OWNER_RIGHTS): FakeServer {
  const entries = ['a.csv', 'b.csv', 'c.csv', 'd.csv', 'e.csv'].map(n =>
    file(`Resources/${n}`)
  );
  entries.unshift(file('Resources/sub', 0, 'dir'));
  return new FakeServer()
    .json('GET', '/api/users/me', {
      username: 'alice',
      email: null,
      is_admin: false,
      status: 'active',
      totp_enabled: false,
      created_at: '2024-01-01T00:00:00Z'
    })
    .json('GET', '/api/projects', {
      count: 1,
      items: [
        {
          name: 'demo',
          description: '',
          owner: 'alice',
          created_at: '2024-01-01T00:00:00Z',
          role
        }
      ]
    })
    .json('GET', '/api/projects/demo/datasets', {
      count: 4,
      items: [
        dataset('Jupyter', { rights: { ...rights, delete: false } }),
        dataset('Resources', { rights: { ...rights, delete: false } }),
        dataset('Scratch', { rights }),
        dataset('other::shared', {
          owner_project: 'other',
          shared: true,
          permission: 'READ_ONLY',
          status: 'ACCEPTED',
          rights: {
            write: false,
            download: rights.download,
            manage: false,
            delete: false
          }
        }),
        dataset('other::offered', {
          owner_project: 'other',
          shared: true,
          permission: 'READ_WRITE',
          status: 'PENDING',
          rights: {
            write: false,
            download: false,
            manage: false,
            delete: false
          }
        })
      ]
    })
    .on(
      'GET',
      '/api/projects/demo/files/Resources',
      listing('Resources', entries)
    )
    .on('GET', /^\/api\/projects\/demo\/files\/Resources\/[^/]+$/, request =>
      request.query.get('stat') === 'true'
        ? {
            status: 404,
            body: { error: 'path_not_found', message: 'no such file' }
          }
        : { status: 500, body: { error: 'unexpected', message: 'unexpected' } }
    );
}

describe('DatasetsSection', () => {
  let server: FakeServer;
  let section: DatasetsSection;
  let opened: string[];

  async function mount(fake: FakeServer): Promise<DatasetsSection> {
    server = fake.install();
    const client = createApiClient();
    const model = new HopsworksModel({ client, projects: new ProjectModel() });
    await model.refresh();
    const sidebar = new FakeSidebar(model, client);
    opened = [];
    section = new DatasetsSection({
      sidebar,
      openFile: async (project, path) => {
        opened.push(`${project}/${path}`);
      },
      serverSettings: ServerConnection.makeSettings({ token: 'secret' }),
      createRequest: FakeXHR.create
    });
    Widget.attach(section, document.body);
    sidebar.refresh();
    await waitFor(() => section.node.querySelector('.hwl-dataset'));
    return section;
  }

  const row = (path: string) =>
    section.node.querySelector(`.hwl-file[data-path="${path}"]`);
  const button = (label: string) =>
    section.node.querySelector(`[aria-label="${label}"]`) as HTMLElement | null;

  async function openResources(): Promise<void> {
    const name = section.node.querySelector(
      '.hwl-dataset[data-dataset="Resources"] .hwl-dataset-name'
    ) as HTMLButtonElement;
    name.click();
    await waitFor(() => row('Resources/a.csv'));
  }

  async function dialog(): Promise<HTMLElement> {
    return waitFor(
      () => document.body.querySelector('.jp-Dialog') as HTMLElement | null
    );
  }

  async function accept(): Promise<void> {
    const node = await dialog();
    (
      node.querySelector('.jp-Dialog-button.jp-mod-accept') as HTMLElement
    ).click();
    await waitFor(() => !document.body.querySelector('.jp-Dialog'));
  }

  /**
   * Drop files on the open folder's listing.
   */
  function drop(files: File[]): void {
    const listing = section.node.querySelector('.hwl-listing')!;
    const event = new Event('drop', { bubbles: true, cancelable: true });
    Object.defineProperty(event, 'dataTransfer', {
      value: { files, types: ['Files'] }
    });
    listing.dispatchEvent(event);
  }

  beforeEach(() => {
    FakeXHR.created = [];
    jest.spyOn(Notification, 'error');
    jest.spyOn(Notification, 'info');
    jest.spyOn(Notification, 'success');
  });

  afterEach(() => {
    section.dispose();
    server.restore();
    jest.restoreAllMocks();
    document.body.innerHTML = '';
  });

  it('lists the datasets, with shared ones and their permission', async () => {
    await mount(demoServer('DATA_OWNER'));
    const names = Array.from(section.node.querySelectorAll('.hwl-dataset')).map(
      n => n.getAttribute('data-dataset')
    );
    expect(names).toEqual([
      'Jupyter',
      'Resources',
      'Scratch',
      'other::shared',
      'other::offered'
    ]);
    const shared = section.node.querySelector(
      '.hwl-dataset[data-dataset="other::shared"]'
    )!;
    expect(shared.querySelector('.hwl-permission-badge')?.textContent).toBe(
      'read-only'
    );
    expect(
      shared
        .querySelector('.hwl-permission-badge')
        ?.getAttribute('data-permission')
    ).toBe('READ_ONLY');
    // a pending offer is shown, greyed, and cannot be opened
    const offered = section.node.querySelector(
      '.hwl-dataset[data-dataset="other::offered"]'
    )!;
    expect(offered.classList.contains('hwl-mod-pending')).toBe(true);
    expect(offered.textContent).toContain('pending');
    expect(offered.querySelector('button.hwl-dataset-name')).toBeNull();
    // a Data Owner creates datasets and deletes those that may go
    expect(button('New dataset')).not.toBeNull();
    expect(button('Delete dataset Scratch')).not.toBeNull();
    expect(button('Delete dataset Resources')).toBeNull();
  });

  it('browses folders with sizes, pages with Load more, and goes back up', async () => {
    await mount(demoServer('DATA_OWNER'));
    await openResources();

    // the first page (pageSize 2)
    const [first] = server.find('GET', '/api/projects/demo/files/Resources');
    expect(first.query.get('offset')).toBe('0');
    expect(first.query.get('limit')).toBe('2');
    expect(row('Resources/sub')?.getAttribute('data-type')).toBe('dir');
    const a = row('Resources/a.csv')!;
    expect(a.querySelector('.hwl-file-size')?.textContent).toBe('1.5 KiB');
    expect(a.querySelector('.hwl-file-modified')?.textContent).not.toBe('');
    expect(row('Resources/b.csv')).toBeNull();

    const more = section.node.querySelector(
      '.hwl-load-more'
    ) as HTMLButtonElement;
    expect(more.textContent).toBe('Load more (2 of 6)');
    more.click();
    await waitFor(() => row('Resources/c.csv'));
    const second = server.find('GET', '/api/projects/demo/files/Resources')[1];
    expect(second.query.get('offset')).toBe('2');
    expect(section.node.querySelector('.hwl-load-more')?.textContent).toBe(
      'Load more (4 of 6)'
    );

    // breadcrumbs: Datasets / Resources
    const crumbs = Array.from(
      section.node.querySelectorAll('.hwl-breadcrumb')
    ).map(n => n.textContent);
    expect(crumbs).toEqual(['Datasets', 'Resources']);
    (
      section.node.querySelector('.hwl-breadcrumb[data-path=""]') as HTMLElement
    ).click();
    await waitFor(() => !section.node.querySelector('.hwl-file'));
    expect(section.node.querySelector('.hwl-dataset')).not.toBeNull();
  });

  it('says why a folder cannot be opened', async () => {
    await mount(
      demoServer('DATA_OWNER').on(
        'GET',
        '/api/projects/demo/files/Jupyter',
        () => ({
          status: 403,
          body: { error: 'forbidden', message: 'not allowed to read Jupyter' }
        })
      )
    );
    (
      section.node.querySelector(
        '.hwl-dataset[data-dataset="Jupyter"] .hwl-dataset-name'
      ) as HTMLElement
    ).click();
    const alert = await waitFor(() =>
      section.node.querySelector('[role="alert"]')
    );
    expect(alert.textContent).toContain('not allowed to read Jupyter');
    await waitFor(
      () => (Notification.error as jest.Mock).mock.calls.length > 0
    );
    expect((Notification.error as jest.Mock).mock.calls[0][0]).toContain(
      'not allowed to read Jupyter'
    );
  });

  it('opens files in the editor, offers downloads and copies the WebHDFS path', async () => {
    await mount(demoServer('DATA_OWNER'));
    await openResources();
    const copy = jest
      .spyOn(Clipboard, 'copyToSystem')
      .mockImplementation(() => {
        // no clipboard in jsdom
      });

    const download = button('Download Resources/a.csv') as HTMLAnchorElement;
    expect(download.getAttribute('href')).toBe(
      'http://localhost/hopsworks/api/projects/demo/files/Resources/a.csv?token=secret'
    );
    expect(download.hasAttribute('download')).toBe(true);

    button('Open Resources/a.csv')!.click();
    expect(opened).toEqual(['demo/Resources/a.csv']);
    row('Resources/a.csv')!.dispatchEvent(
      new MouseEvent('dblclick', { bubbles: true })
    );
    expect(opened).toEqual(['demo/Resources/a.csv', 'demo/Resources/a.csv']);

    button('Copy path of Resources/a.csv')!.click();
    expect(copy).toHaveBeenCalledWith('/Projects/demo/Resources/a.csv');
    expect(Notification.info).toHaveBeenCalledWith(
      'Copied /Projects/demo/Resources/a.csv',
      expect.anything()
    );
  });

  it('shows a Data Scientist no download or delete controls', async () => {
    // what the server says a Data Scientist may do in Resources
    await mount(
      demoServer('DATA_SCIENTIST', {
        write: true,
        download: false,
        manage: false,
        delete: false
      })
    );
    expect(button('New dataset')).toBeNull();
    expect(section.node.querySelector('.hwl-delete-dataset')).toBeNull();

    await openResources();
    expect(button('Download Resources/a.csv')).toBeNull();
    expect(button('Open Resources/a.csv')).toBeNull();
    // Resources takes uploads from Data Scientists
    expect(button('Upload files')).not.toBeNull();
    expect(button('Copy path of Resources/a.csv')).not.toBeNull();

    // read-only shares take nothing
    (
      section.node.querySelector('.hwl-breadcrumb[data-path=""]') as HTMLElement
    ).click();
    await waitFor(() => section.node.querySelector('.hwl-dataset'));
    server.on(
      'GET',
      '/api/projects/demo/files/other::shared',
      listing('other::shared', [file('other::shared/x.csv')])
    );
    (
      section.node.querySelector(
        '.hwl-dataset[data-dataset="other::shared"] .hwl-dataset-name'
      ) as HTMLElement
    ).click();
    await waitFor(() => row('other::shared/x.csv'));
    expect(button('Upload files')).toBeNull();
    expect(button('New folder')).toBeNull();
    expect(button('Delete other::shared/x.csv')).toBeNull();
    expect(button('Rename other::shared/x.csv')).toBeNull();
  });

  it('uploads dropped files with progress, and cancels', async () => {
    await mount(demoServer('DATA_OWNER'));
    await openResources();
    const listings = () =>
      server.find('GET', '/api/projects/demo/files/Resources').length;

    drop([new File(['x'.repeat(100)], 'new.csv')]);
    await waitFor(() => FakeXHR.created.length === 1);
    const xhr = FakeXHR.created[0];
    expect(xhr.url).toBe(
      'http://localhost/hopsworks/api/projects/demo/files/Resources/new.csv?overwrite=false'
    );
    xhr.progress(50, 100);
    const upload = await waitFor(() =>
      section.node.querySelector('.hwl-upload[data-name="new.csv"]')
    );
    const bar = upload.querySelector(
      'progress.hwl-upload-progress'
    ) as HTMLProgressElement;
    await waitFor(() => bar.getAttribute('value') === '50');
    expect(bar.getAttribute('max')).toBe('100');
    expect(upload.textContent).toContain('50%');

    const before = listings();
    button('Cancel upload of new.csv')!.click();
    expect(xhr.aborted).toBe(true);
    await waitFor(() => !section.node.querySelector('.hwl-upload'));
    expect(listings()).toBe(before);

    // a finished upload reloads the folder
    drop([new File(['y'], 'done.csv')]);
    await waitFor(() => FakeXHR.created.length === 2);
    FakeXHR.created[1].respond(201, file('Resources/done.csv', 1));
    await waitFor(() => listings() > before);
    await waitFor(() => !section.node.querySelector('.hwl-upload'));
  });

  it('asks before replacing a file, then uploads with overwrite=true', async () => {
    await mount(demoServer('DATA_OWNER'));
    await openResources();

    drop([new File(['new'], 'a.csv')]);
    await waitFor(() => FakeXHR.created.length === 1);
    // another upload got there first
    FakeXHR.created[0].respond(409, {
      error: 'file_exists',
      message: "'Resources/a.csv' exists: pass overwrite=true to replace it"
    });
    const node = await dialog();
    expect(node.textContent).toContain('Resources/a.csv already exists');
    await accept();
    await waitFor(() => FakeXHR.created.length === 2);
    expect(FakeXHR.created[1].url).toContain('Resources/a.csv?overwrite=true');
    expect(Notification.error).not.toHaveBeenCalled();

    // a file known to exist: asked before any byte is sent
    server.on('GET', '/api/projects/demo/files/Resources/b.csv', () => ({
      body: file('Resources/b.csv')
    }));
    drop([new File(['new'], 'b.csv')]);
    await dialog();
    expect(FakeXHR.created).toHaveLength(2);
    await accept();
    await waitFor(() => FakeXHR.created.length === 3);
    expect(FakeXHR.created[2].url).toContain('Resources/b.csv?overwrite=true');
  });

  it("reports a refused upload with the server's message", async () => {
    await mount(demoServer('DATA_OWNER'));
    await openResources();
    drop([new File(['x'], 'big.bin')]);
    await waitFor(() => FakeXHR.created.length === 1);
    FakeXHR.created[0].respond(413, {
      error: 'quota_exceeded',
      message: "the data does not fit in the project's quota"
    });
    await waitFor(
      () => (Notification.error as jest.Mock).mock.calls.length > 0
    );
    const [message] = (Notification.error as jest.Mock).mock.calls[0];
    expect(message).toContain("the data does not fit in the project's quota");
    expect(message).toContain('Resources/big.bin');
  });

  it('creates folders, renames and deletes files', async () => {
    await mount(
      demoServer('DATA_OWNER').on(
        'POST',
        /^\/api\/projects\/demo\/files\//,
        request => ({ status: 201, body: file(request.path, 0, 'dir') })
      )
    );
    server.on('DELETE', /^\/api\/projects\/demo\/files\//, () => ({
      status: 204
    }));
    await openResources();

    button('New folder')!.click();
    let node = await dialog();
    (node.querySelector('input') as HTMLInputElement).value = 'models';
    await accept();
    await waitFor(
      () =>
        server.find('POST', '/api/projects/demo/files/Resources/models').length
    );
    const [mkdir] = server.find(
      'POST',
      '/api/projects/demo/files/Resources/models'
    );
    expect(JSON.parse(mkdir.body)).toEqual({ op: 'mkdir' });

    button('Rename Resources/a.csv')!.click();
    node = await dialog();
    const input = node.querySelector('input') as HTMLInputElement;
    expect(input.value).toBe('a.csv');
    input.value = 'z.csv';
    await accept();
    await waitFor(
      () =>
        server.find('POST', '/api/projects/demo/files/Resources/a.csv').length
    );
    const [move] = server.find(
      'POST',
      '/api/projects/demo/files/Resources/a.csv'
    );
    expect(JSON.parse(move.body)).toEqual({
      op: 'move',
      to: 'Resources/z.csv'
    });

    button('Delete Resources/a.csv')!.click();
    node = await dialog();
    expect(node.textContent).toContain('Delete Resources/a.csv?');
    await accept();
    await waitFor(
      () =>
        server.find('DELETE', '/api/projects/demo/files/Resources/a.csv').length
    );
  });

  it('creates and deletes datasets (Data Owners), and shows refusals', async () => {
    await mount(
      demoServer('DATA_OWNER')
        .on('POST', '/api/projects/demo/datasets', () => ({
          status: 201,
          body: dataset('Models')
        }))
        .on('DELETE', '/api/projects/demo/datasets/Scratch', () => ({
          status: 409,
          body: { error: 'dataset_busy', message: 'Scratch is in use' }
        }))
    );

    button('New dataset')!.click();
    const node = await dialog();
    (node.querySelector('.hwl-new-dataset-name') as HTMLInputElement).value =
      'Models';
    (
      node.querySelector('.hwl-new-dataset-description') as HTMLTextAreaElement
    ).value = 'Trained models';
    await accept();
    await waitFor(
      () => server.find('POST', '/api/projects/demo/datasets').length
    );
    const [create] = server.find('POST', '/api/projects/demo/datasets');
    expect(JSON.parse(create.body)).toEqual({
      name: 'Models',
      description: 'Trained models'
    });

    button('Delete dataset Scratch')!.click();
    expect((await dialog()).textContent).toContain('Scratch');
    await accept();
    await waitFor(
      () => (Notification.error as jest.Mock).mock.calls.length > 0
    );
    expect(
      server.find('DELETE', '/api/projects/demo/datasets/Scratch')
    ).toHaveLength(1);
    expect((Notification.error as jest.Mock).mock.calls[0][0]).toContain(
      'Scratch is in use'
    );
  });
});
