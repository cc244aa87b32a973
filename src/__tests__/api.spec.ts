import { ServerConnection } from '@jupyterlab/services';

import { APIError, apiUrl, requestAPI } from '../api';

function settingsWith(
  handler: (request: Request) => Promise<Response>
): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/user/alice/',
    fetch: jest.fn(handler) as unknown as typeof fetch
  });
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

describe('requestAPI', () => {
  it('joins the endpoint below <baseUrl>hopsworks/api/', () => {
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://localhost:8888/user/alice/'
    });
    expect(apiUrl('users/me', settings)).toBe(
      'http://localhost:8888/user/alice/hopsworks/api/users/me'
    );
  });

  it('returns the decoded JSON body', async () => {
    let seen: Request | undefined;
    const settings = settingsWith(async request => {
      seen = request;
      return json({ version: '0.1.0', api_version: 1 });
    });
    const body = await requestAPI<{ version: string }>('version', {}, settings);
    expect(body.version).toBe('0.1.0');
    const url = new URL(seen?.url ?? '');
    expect(url.origin + url.pathname).toBe(
      'http://localhost:8888/user/alice/hopsworks/api/version'
    );
  });

  it('sends a string body as JSON', async () => {
    let seen: Request | undefined;
    const settings = settingsWith(async request => {
      seen = request;
      return json({ name: 'demo' }, 201);
    });
    await requestAPI(
      'projects',
      { method: 'POST', body: JSON.stringify({ name: 'demo' }) },
      settings
    );
    expect(seen?.method).toBe('POST');
    expect(seen?.headers.get('Content-Type')).toBe('application/json');
  });

  it('throws an APIError parsed from the error body', async () => {
    const settings = settingsWith(async () =>
      json({ error: 'forbidden', message: 'not a member of demo' }, 403)
    );
    const promise = requestAPI('projects/demo', {}, settings);
    await expect(promise).rejects.toBeInstanceOf(APIError);
    await expect(promise).rejects.toMatchObject({
      status: 403,
      code: 'forbidden',
      message: 'not a member of demo'
    });
  });

  it('throws an APIError for a non-JSON error body', async () => {
    const settings = settingsWith(
      async () =>
        new Response('<html>oops</html>', {
          status: 502,
          statusText: 'Bad Gateway'
        })
    );
    await expect(requestAPI('users/me', {}, settings)).rejects.toMatchObject({
      status: 502,
      code: 'http_error',
      message: 'HTTP 502: Bad Gateway'
    });
  });

  it('throws an APIError with status 0 when the server is unreachable', async () => {
    const settings = settingsWith(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(requestAPI('users/me', {}, settings)).rejects.toMatchObject({
      status: 0,
      code: 'network_error'
    });
  });
});
