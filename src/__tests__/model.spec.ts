import { StateDB } from '@jupyterlab/statedb';

import { ACTIVE_PROJECT_KEY, ProjectModel } from '../model';

const standalone = {
  mode: 'standalone' as const,
  project: null,
  version: '0.1.0',
  api_version: 1
};
const hub = { ...standalone, mode: 'hub' as const, project: 'demo' };

describe('ProjectModel', () => {
  it('is unset until the context is known', () => {
    const model = new ProjectModel();
    expect(model.activeProject).toBeNull();
    expect(model.mode).toBeNull();
    expect(model.locked).toBe(false);
  });

  it("is locked to the server's project in hub mode", async () => {
    const model = new ProjectModel();
    const seen: (string | null)[] = [];
    model.changed.connect((_, project) => seen.push(project));
    await model.setContext(hub);
    expect(model.activeProject).toBe('demo');
    expect(model.locked).toBe(true);
    model.select('other');
    model.reconcile(['other']);
    expect(model.activeProject).toBe('demo');
    expect(seen).toEqual(['demo']);
  });

  it('lets the user pick a project when standalone, and signals it', async () => {
    const model = new ProjectModel();
    const seen: (string | null)[] = [];
    model.changed.connect((_, project) => seen.push(project));
    await model.setContext(standalone);
    model.reconcile(['a', 'b']);
    expect(model.activeProject).toBe('a');
    model.select('b');
    model.select('b'); // no change, no signal
    model.reconcile(['a', 'b']);
    expect(model.activeProject).toBe('b');
    model.reconcile(['a']); // b is gone
    expect(model.activeProject).toBe('a');
    model.reconcile([]);
    expect(model.activeProject).toBeNull();
    expect(seen).toEqual(['a', 'b', 'a', null]);
  });

  it('remembers the choice in the state database', async () => {
    const state = new StateDB();
    const first = new ProjectModel({ state });
    await first.setContext(standalone);
    first.reconcile(['a', 'b']);
    first.select('b');
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(await state.fetch(ACTIVE_PROJECT_KEY)).toBe('b');

    const second = new ProjectModel({ state });
    await second.setContext(standalone);
    expect(second.activeProject).toBe('b');
    second.reconcile(['a', 'b']);
    expect(second.activeProject).toBe('b');
  });
});
