import { ServerConnection } from '@jupyterlab/services';

import { API_VERSION, getContext, versionMismatch } from '../api';
import { PACKAGE_VERSION } from '../version';

// jest's CommonJS require (the tests have no Node typings)
declare const require: (path: string) => unknown;

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

describe('the version handshake', () => {
  it('reads the context below <baseUrl>hopsworks/', async () => {
    let seen: Request | undefined;
    const settings = settingsWith(async request => {
      seen = request;
      return json({
        mode: 'hub',
        project: 'demo',
        version: '0.1.0',
        api_version: 1
      });
    });
    const context = await getContext(settings);
    expect(context.project).toBe('demo');
    const url = new URL(seen?.url ?? '');
    expect(url.origin + url.pathname).toBe(
      'http://localhost:8888/user/alice/hopsworks/context'
    );
    expect(seen?.headers.get('X-Hopsworks-Api-Version')).toBe('1');
  });

  it('keeps the whole error body of a version mismatch', async () => {
    const settings = settingsWith(async () =>
      json(
        {
          error: 'version_mismatch',
          message: 'no',
          version: '2.0.0',
          api_version: 2
        },
        409
      )
    );
    await expect(getContext(settings)).rejects.toMatchObject({
      status: 409,
      code: 'version_mismatch',
      body: { api_version: 2, version: '2.0.0' }
    });
  });

  it('says when the server cannot be reached, or answers no JSON', async () => {
    const unreachable = settingsWith(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(getContext(unreachable)).rejects.toMatchObject({
      status: 0,
      code: 'network_error'
    });
    const html = settingsWith(async () => new Response('<html></html>'));
    await expect(getContext(html)).rejects.toMatchObject({
      status: 200,
      code: 'invalid_response'
    });
  });

  it('describes a mismatch, and none when the versions match', () => {
    expect(
      versionMismatch({ api_version: API_VERSION, version: 'x' })
    ).toBeNull();
    expect(versionMismatch({ api_version: 2, version: '2.0.0' })).toBe(
      `This Hopsworks panel (API v1, hopsworks-lab ${PACKAGE_VERSION}) does not match ` +
        'the server (API v2 (hopsworks-lab 2.0.0)): reload the page, or upgrade ' +
        'hopsworks-lab so that both are the same version.'
    );
    expect(versionMismatch({})).toContain('the server (API ?)');
  });

  it("knows its own version (package.json's)", () => {
    const pkg = require('../../package.json') as { version: string };
    expect(PACKAGE_VERSION).toBe(pkg.version);
  });
});
