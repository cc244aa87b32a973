import { ServerConnection } from '@jupyterlab/services';

import { APIError } from '../api';
import { createApiClient, fileUrl, unwrap } from '../client';

const BASE = 'http://localhost:8888/user/alice/';

/**
 * Settings whose fetch records each request and answers with `handler`.
 */
function settingsWith(handler: (request: Request) => Promise<Response>): {
  settings: ServerConnection.ISettings;
  seen: Request[];
} {
  const seen: Request[] = [];
  const settings = ServerConnection.makeSettings({
    baseUrl: BASE,
    fetch: jest.fn(async (request: Request) => {
      seen.push(request);
      return handler(request);
    }) as unknown as typeof fetch
  });
  return { settings, seen };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

/**
 * A URL without its query (ServerConnection may add one).
 */
function withoutQuery(url: string): string {
  const parsed = new URL(url);
  return parsed.origin + parsed.pathname;
}

describe('the API client', () => {
  it('calls <baseUrl>hopsworks/api/... and returns the decoded body', async () => {
    const { settings, seen } = settingsWith(async () =>
      json({ version: '0.1.0', api_version: 1 })
    );
    const client = createApiClient(settings);
    const body = await unwrap(client.GET('/api/version'));
    expect(body).toEqual({ version: '0.1.0', api_version: 1 });
    expect(withoutQuery(seen[0].url)).toBe(
      'http://localhost:8888/user/alice/hopsworks/api/version'
    );
  });

  it('says which API version it speaks on every request', async () => {
    const { settings, seen } = settingsWith(async request =>
      request.method === 'DELETE'
        ? new Response(null, { status: 204 })
        : json({})
    );
    const client = createApiClient(settings);
    await unwrap(client.GET('/api/users/me'));
    await unwrap(
      client.DELETE('/api/projects/{project}', {
        params: { path: { project: 'demo' } }
      })
    );
    expect(seen.map(r => r.headers.get('X-Hopsworks-Api-Version'))).toEqual([
      '1',
      '1'
    ]);
  });

  it('sends a JSON body as JSON', async () => {
    const created = {
      name: 'demo',
      description: 'a demo',
      owner: 'alice',
      created_at: '2024-05-01T10:00:00Z',
      role: 'DATA_OWNER'
    };
    const { settings, seen } = settingsWith(async () => json(created, 201));
    const client = createApiClient(settings);
    const project = await unwrap(
      client.POST('/api/projects', {
        body: { name: 'demo', description: 'a demo' }
      })
    );
    expect(project).toEqual(created);
    const [request] = seen;
    expect(request.method).toBe('POST');
    expect(withoutQuery(request.url)).toBe(
      'http://localhost:8888/user/alice/hopsworks/api/projects'
    );
    expect(request.headers.get('Content-Type')).toBe('application/json');
    expect(JSON.parse(await request.text())).toEqual({
      name: 'demo',
      description: 'a demo'
    });
  });

  it('throws an APIError parsed from the error body', async () => {
    const { settings } = settingsWith(async () =>
      json({ error: 'forbidden', message: 'not a member of demo' }, 403)
    );
    const client = createApiClient(settings);
    const promise = unwrap(
      client.GET('/api/projects/{project}', {
        params: { path: { project: 'demo' } }
      })
    );
    await expect(promise).rejects.toBeInstanceOf(APIError);
    await expect(promise).rejects.toMatchObject({
      status: 403,
      code: 'forbidden',
      message: 'not a member of demo'
    });
  });

  it('throws an APIError for a non-JSON error body', async () => {
    const { settings } = settingsWith(
      async () =>
        new Response('<html>oops</html>', {
          status: 502,
          statusText: 'Bad Gateway'
        })
    );
    const client = createApiClient(settings);
    await expect(unwrap(client.GET('/api/users/me'))).rejects.toMatchObject({
      status: 502,
      code: 'http_error',
      message: 'HTTP 502: Bad Gateway'
    });
  });

  it('throws an APIError with status 0 when the server is unreachable', async () => {
    const { settings } = settingsWith(async () => {
      throw new TypeError('Failed to fetch');
    });
    const client = createApiClient(settings);
    const promise = unwrap(client.GET('/api/users/me'));
    await expect(promise).rejects.toBeInstanceOf(APIError);
    await expect(promise).rejects.toMatchObject({
      status: 0,
      code: 'network_error'
    });
  });
});

describe('path parameters', () => {
  it('encodes a project name as one segment', async () => {
    const { settings, seen } = settingsWith(async () =>
      json({ items: [], count: 0 })
    );
    const client = createApiClient(settings);
    for (const project of ['my project', 'alice::shared', 'a/b']) {
      await unwrap(
        client.GET('/api/projects/{project}/members', {
          params: { path: { project } }
        })
      );
    }
    expect(seen.map(r => new URL(r.url).pathname)).toEqual([
      '/user/alice/hopsworks/api/projects/my%20project/members',
      '/user/alice/hopsworks/api/projects/alice%3A%3Ashared/members',
      '/user/alice/hopsworks/api/projects/a%2Fb/members'
    ]);
  });

  it("keeps a file path's slashes and encodes each segment", async () => {
    const { settings, seen } = settingsWith(
      async () =>
        new Response(new Uint8Array([1, 2, 3]), {
          headers: { 'Content-Type': 'application/octet-stream' }
        })
    );
    const client = createApiClient(settings);
    const path = 'Resources/a b/c#.csv';
    await unwrap(
      client.GET('/api/projects/{project}/files/{path}', {
        params: { path: { project: 'my project', path } },
        parseAs: 'blob'
      })
    );
    const expected =
      'http://localhost:8888/user/alice/hopsworks/api/projects/my%20project/files/Resources/a%20b/c%23.csv';
    expect(withoutQuery(seen[0].url)).toBe(expected);
    expect(fileUrl('my project', path, settings)).toBe(expected);
  });
});
