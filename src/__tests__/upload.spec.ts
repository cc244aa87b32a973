import { ServerConnection } from '@jupyterlab/services';

import { APIError } from '../api';
import { IUploadProgress, startUpload } from '../upload';
import { FakeXHR } from './fakeXhr';

const settings = ServerConnection.makeSettings({
  baseUrl: 'http://localhost/lab/',
  token: 'secret'
});

const entry = {
  name: 'a b.csv',
  path: 'Resources/a b.csv',
  type: 'file',
  size: 10,
  modified: '2024-01-01T00:00:00Z'
};

describe('startUpload', () => {
  beforeEach(() => {
    FakeXHR.created = [];
    document.cookie = '_xsrf=xsrf-value';
  });

  afterEach(() => {
    document.cookie = '_xsrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT';
  });

  it('PUTs the bytes with the lab credentials and reports progress', async () => {
    const data = new Blob(['0123456789']);
    const upload = startUpload({
      project: 'demo',
      path: 'Resources/a b.csv',
      data,
      settings,
      createRequest: FakeXHR.create
    });
    const seen: IUploadProgress[] = [];
    upload.progress.connect((_, progress) => seen.push(progress));

    const [xhr] = FakeXHR.created;
    expect(xhr.method).toBe('PUT');
    expect(xhr.url).toBe(
      'http://localhost/lab/hopsworks/api/projects/demo/files/Resources/a%20b.csv?overwrite=false'
    );
    expect(xhr.headers).toEqual({
      Authorization: 'token secret',
      'X-XSRFToken': 'xsrf-value',
      'X-Hopsworks-Api-Version': '1',
      'Content-Type': 'application/octet-stream'
    });
    expect(xhr.body).toBe(data);
    expect(upload.name).toBe('a b.csv');

    xhr.progress(4, 10);
    xhr.respond(201, entry);
    await expect(upload.done).resolves.toEqual(entry);
    expect(seen[0]).toEqual({ loaded: 4, total: 10 });
    expect(seen[seen.length - 1]).toEqual({ loaded: 10, total: 10 });
  });

  it('replaces an existing file only when told to', () => {
    startUpload({
      project: 'demo',
      path: 'Resources/a.csv',
      data: new Blob(['x']),
      overwrite: true,
      settings: ServerConnection.makeSettings({ baseUrl: 'http://localhost/' }),
      createRequest: FakeXHR.create
    });
    const [xhr] = FakeXHR.created;
    expect(xhr.url).toBe(
      'http://localhost/hopsworks/api/projects/demo/files/Resources/a.csv?overwrite=true'
    );
    // no token in the settings: no Authorization header
    expect(xhr.headers['Authorization']).toBeUndefined();
  });

  it('cancel aborts the request and rejects with "cancelled"', async () => {
    const upload = startUpload({
      project: 'demo',
      path: 'Resources/big.bin',
      data: new Blob(['x'.repeat(100)]),
      settings,
      createRequest: FakeXHR.create
    });
    FakeXHR.created[0].progress(50, 100);
    upload.cancel();
    expect(FakeXHR.created[0].aborted).toBe(true);
    const error = await upload.done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).code).toBe('cancelled');
  });

  it("rejects with the server's error", async () => {
    const exists = startUpload({
      project: 'demo',
      path: 'Resources/a.csv',
      data: new Blob(['x']),
      settings,
      createRequest: FakeXHR.create
    });
    FakeXHR.created[0].respond(409, {
      error: 'file_exists',
      message: "'Resources/a.csv' exists: pass overwrite=true to replace it"
    });
    const conflict = (await exists.done.catch(e => e)) as APIError;
    expect(conflict.status).toBe(409);
    expect(conflict.code).toBe('file_exists');

    const quota = startUpload({
      project: 'demo',
      path: 'Resources/b.csv',
      data: new Blob(['x']),
      settings,
      createRequest: FakeXHR.create
    });
    FakeXHR.created[1].respond(413, {
      error: 'quota_exceeded',
      message: "the data does not fit in the project's quota"
    });
    const tooLarge = (await quota.done.catch(e => e)) as APIError;
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.message).toBe(
      "the data does not fit in the project's quota"
    );

    const lost = startUpload({
      project: 'demo',
      path: 'Resources/c.csv',
      data: new Blob(['x']),
      settings,
      createRequest: FakeXHR.create
    });
    FakeXHR.created[2].onerror?.();
    const network = (await lost.done.catch(e => e)) as APIError;
    expect(network.status).toBe(0);
    expect(network.code).toBe('network_error');
  });
});
