import {
  Contents,
  ContentsManager,
  ServerConnection
} from '@jupyterlab/services';

import { createApiClient } from '../client';
import { HopsworksDrive } from '../drive';
import { FakeServer, IFakeRequest } from './fakeServer';

const NOTEBOOK = {
  cells: [
    {
      cell_type: 'code',
      source: 'print("hello")',
      metadata: {},
      outputs: [],
      execution_count: null
    }
  ],
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5
};

const MODIFIED = '2024-05-01T10:00:00Z';

/**
 * The PNG signature: not UTF-8.
 */
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function entry(path: string, type: 'file' | 'dir' = 'file', size = 10) {
  return {
    name: path.split('/').pop(),
    path,
    type,
    size,
    modified: MODIFIED
  };
}

/**
 * Serve a file of the demo project: its description (`?stat=true`) and its
 * bytes.
 */
function serveFile(
  server: FakeServer,
  path: string,
  bytes: Uint8Array | string
): FakeServer {
  const data =
    typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  return server.on('GET', `/api/projects/demo/files/${path}`, request =>
    request.query.get('stat') === 'true'
      ? { body: entry(path, 'file', data.length) }
      : { body: data }
  );
}

/**
 * Answer uploads to the demo project with the entry they created.
 */
function acceptUploads(server: FakeServer): FakeServer {
  return server.on(
    'PUT',
    /^\/api\/projects\/demo\/files\/(.+)$/,
    (request: IFakeRequest, match: RegExpMatchArray) => ({
      status: request.query.get('overwrite') === 'true' ? 200 : 201,
      body: entry(match[1], 'file', request.bodyBytes.length)
    })
  );
}

describe('HopsworksDrive', () => {
  let settings: ServerConnection.ISettings;
  let server: FakeServer;
  let drive: HopsworksDrive;

  beforeEach(() => {
    server = new FakeServer().install();
    // after install: the settings keep the fetch they find
    settings = ServerConnection.makeSettings({ token: 'secret' });
    drive = new HopsworksDrive({
      serverSettings: settings,
      client: createApiClient(settings)
    });
  });

  afterEach(() => {
    drive.dispose();
    server.restore();
  });

  it('opens a notebook as JSON and saves it back', async () => {
    serveFile(server, 'Jupyter/nb.ipynb', JSON.stringify(NOTEBOOK));
    acceptUploads(server);

    const model = await drive.get('demo/Jupyter/nb.ipynb', {
      type: 'notebook',
      content: true
    });
    expect(model.type).toBe('notebook');
    expect(model.format).toBe('json');
    expect(model.content).toEqual(NOTEBOOK);
    expect(model.path).toBe('demo/Jupyter/nb.ipynb');
    expect(model.last_modified).toBe(MODIFIED);
    // a description first (members may ask), then the bytes
    const [stat, bytes] = server.find('GET', /^\/api\/projects\/demo\/files/);
    expect(stat.query.get('stat')).toBe('true');
    expect(bytes.query.has('stat')).toBe(false);

    const changes: Contents.IChangedArgs[] = [];
    drive.fileChanged.connect((_, change) => changes.push(change));
    const edited = { ...NOTEBOOK, metadata: { edited: true } };
    const saved = await drive.save('demo/Jupyter/nb.ipynb', {
      type: 'notebook',
      format: 'json',
      content: edited
    });
    const [put] = server.find(
      'PUT',
      '/api/projects/demo/files/Jupyter/nb.ipynb'
    );
    expect(put.query.get('overwrite')).toBe('true');
    expect(put.headers.get('Content-Type')).toBe('application/octet-stream');
    expect(put.body).toBe(JSON.stringify(edited, null, 1));
    expect(saved.path).toBe('demo/Jupyter/nb.ipynb');
    expect(saved.type).toBe('notebook');
    expect(saved.last_modified).toBe(MODIFIED);
    expect(changes.map(c => c.type)).toEqual(['save']);
  });

  it('opens a text file as text and saves it', async () => {
    serveFile(server, 'Resources/a.csv', 'x,y\n1,2\n');
    acceptUploads(server);

    const model = await drive.get('demo/Resources/a.csv', { content: true });
    expect(model.type).toBe('file');
    expect(model.format).toBe('text');
    expect(model.content).toBe('x,y\n1,2\n');

    await drive.save('demo/Resources/a.csv', {
      type: 'file',
      format: 'text',
      content: 'x,y\n3,4\n'
    });
    const [put] = server.find(
      'PUT',
      '/api/projects/demo/files/Resources/a.csv'
    );
    expect(put.body).toBe('x,y\n3,4\n');
    expect(put.query.get('overwrite')).toBe('true');
  });

  it('opens a binary file as base64 and saves its bytes', async () => {
    serveFile(server, 'Resources/logo.png', PNG);
    acceptUploads(server);

    const model = await drive.get('demo/Resources/logo.png', { content: true });
    expect(model.format).toBe('base64');
    expect(model.mimetype).toBe('image/png');
    expect(model.content).toBe(btoa(String.fromCharCode(...PNG)));

    await drive.save('demo/Resources/copy.png', {
      type: 'file',
      format: 'base64',
      content: model.content
    });
    const [put] = server.find(
      'PUT',
      '/api/projects/demo/files/Resources/copy.png'
    );
    expect(Array.from(put.bodyBytes)).toEqual(Array.from(PNG));
  });

  it('refuses text for bytes that are not UTF-8', async () => {
    serveFile(server, 'Resources/logo.png', PNG);
    await expect(
      drive.get('demo/Resources/logo.png', { format: 'text', content: true })
    ).rejects.toThrow('not UTF-8 text');
  });

  it('lists folders page by page, and projects and datasets above them', async () => {
    const names = ['a.csv', 'b.csv', 'sub'];
    server
      .on('GET', '/api/projects/demo/files/Resources', request => {
        if (request.query.get('stat') === 'true') {
          return { body: entry('Resources', 'dir') };
        }
        // a server whose pages are smaller than asked for
        const offset = Number(request.query.get('offset') ?? 0);
        const items = names
          .slice(offset, offset + 2)
          .map(n => entry(`Resources/${n}`, n === 'sub' ? 'dir' : 'file'));
        return {
          body: {
            path: 'Resources',
            type: 'dir',
            items,
            count: items.length,
            total: names.length
          }
        };
      })
      .json('GET', '/api/projects', {
        count: 2,
        items: [
          {
            name: 'demo',
            description: '',
            owner: 'alice',
            created_at: '',
            role: 'DATA_OWNER'
          },
          {
            name: 'other',
            description: '',
            owner: 'bob',
            created_at: '',
            role: null
          }
        ]
      })
      .json('GET', '/api/projects/demo/datasets', {
        count: 2,
        items: [
          { name: 'Resources', status: null, rights: { write: true } },
          {
            name: 'other::offered',
            status: 'PENDING',
            rights: { write: false }
          }
        ]
      });

    const folder = await drive.get('demo/Resources', { content: true });
    expect(folder.type).toBe('directory');
    const items = folder.content as Contents.IModel[];
    expect(items.map(i => [i.path, i.type])).toEqual([
      ['demo/Resources/a.csv', 'file'],
      ['demo/Resources/b.csv', 'file'],
      ['demo/Resources/sub', 'directory']
    ]);
    const pages = server
      .find('GET', '/api/projects/demo/files/Resources')
      .filter(r => !r.query.has('stat'));
    expect(pages.map(r => r.query.get('offset'))).toEqual(['0', '2']);

    const root = await drive.get('', { content: true });
    expect((root.content as Contents.IModel[]).map(i => i.path)).toEqual([
      'demo'
    ]);
    const project = await drive.get('demo', { content: true });
    expect((project.content as Contents.IModel[]).map(i => i.path)).toEqual([
      'demo/Resources'
    ]);
  });

  it('creates, renames, copies and deletes through the files API', async () => {
    acceptUploads(server)
      .json('GET', '/api/projects/demo/files/Jupyter', {
        path: 'Jupyter',
        type: 'dir',
        items: [entry('Jupyter/Untitled.ipynb'), entry('Jupyter/a.py')],
        count: 2,
        total: 2
      })
      .on('POST', /^\/api\/projects\/demo\/files\/(.+)$/, request => {
        const body = JSON.parse(request.body) as { op: string; to?: string };
        return { status: 201, body: entry(body.to ?? 'Jupyter/x', 'file') };
      })
      .on('DELETE', /^\/api\/projects\/demo\/files\//, () => ({ status: 204 }));
    const changes: string[] = [];
    drive.fileChanged.connect((_, change) => changes.push(change.type));

    const created = await drive.newUntitled({
      path: 'demo/Jupyter',
      type: 'notebook'
    });
    expect(created.path).toBe('demo/Jupyter/Untitled1.ipynb');
    const [put] = server.find(
      'PUT',
      '/api/projects/demo/files/Jupyter/Untitled1.ipynb'
    );
    expect(put.query.get('overwrite')).toBe('false');
    expect(JSON.parse(put.body).nbformat).toBe(4);

    const renamed = await drive.rename(
      'demo/Jupyter/a.py',
      'demo/Jupyter/b.py'
    );
    expect(renamed.path).toBe('demo/Jupyter/b.py');
    const [move] = server.find('POST', '/api/projects/demo/files/Jupyter/a.py');
    expect(JSON.parse(move.body)).toEqual({ op: 'move', to: 'Jupyter/b.py' });

    const copied = await drive.copy('demo/Jupyter/a.py', 'demo/Jupyter');
    expect(copied.path).toBe('demo/Jupyter/a-Copy1.py');

    await drive.delete('demo/Jupyter/b.py');
    expect(
      server.find('DELETE', '/api/projects/demo/files/Jupyter/b.py')
    ).toHaveLength(1);
    expect(changes).toEqual(['new', 'rename', 'new', 'delete']);

    await expect(
      drive.rename('demo/Jupyter/a.py', 'other/Jupyter/a.py')
    ).rejects.toThrow('within a project');
  });

  it("is reached through the lab's contents manager as Hopsworks:", async () => {
    serveFile(server, 'Resources/a.csv', 'x\n');
    const manager = new ContentsManager({ serverSettings: settings });
    manager.addDrive(drive);
    const model = await manager.get('Hopsworks:demo/Resources/a.csv', {
      content: true
    });
    expect(model.path).toBe('Hopsworks:demo/Resources/a.csv');
    expect(model.content).toBe('x\n');
    expect(await manager.getDownloadUrl('Hopsworks:demo/Resources/a.csv')).toBe(
      'http://localhost/hopsworks/api/projects/demo/files/Resources/a.csv?token=secret'
    );
    const checkpoints = await manager.listCheckpoints(
      'Hopsworks:demo/Resources/a.csv'
    );
    expect(checkpoints).toEqual([]);
    manager.dispose();
  });
});
