import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { refreshIcon, ToolbarButton } from '@jupyterlab/ui-components';

// The sidebar, its client and its first section must exist as soon as the
// plugin activates (the tab, the restored layout), so they are not deferred.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { createApiClient } from './client';
import { IProjectModel, ProjectModel } from './model';
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { HopsworksModel, HopsworksPanel } from './panel';

import { datasetsPlugin } from './datasets';

import { environmentPlugin } from './environment';

import { experimentsPlugin } from './experiments';

import { jobsPlugin } from './jobs';

import { membersPlugin } from './members';

import { sharingPlugin } from './sharing';
import {
  DEFAULT_PREFERENCES,
  HopsworksSidebar,
  IHopsworksSidebar,
  IPreferences
} from './sidebar';

export { IProjectModel } from './model';
export { IHopsworksSidebar, SectionWidget } from './sidebar';

/**
 * The command ids of the extension.
 */
export namespace CommandIDs {
  export const open = 'hopsworks-lab:open';
  export const refresh = 'hopsworks-lab:refresh';
}

/**
 * The id of the main plugin (and of its settings, `schema/plugin.json`).
 */
const PLUGIN_ID = 'hopsworks-lab:plugin';

/**
 * Read the preferences from the settings, falling back to the defaults.
 */
function readPreferences(settings: ISettingRegistry.ISettings): IPreferences {
  const pageSize = settings.get('pageSize').composite;
  const refreshInterval = settings.get('refreshInterval').composite;
  return {
    pageSize:
      typeof pageSize === 'number' ? pageSize : DEFAULT_PREFERENCES.pageSize,
    refreshInterval:
      typeof refreshInterval === 'number'
        ? refreshInterval
        : DEFAULT_PREFERENCES.refreshInterval
  };
}

/**
 * Adds the Hopsworks sidebar (one icon in the left area) with its Project
 * section, and provides the active project and the sidebar for the other
 * panels.
 */
const plugin: JupyterFrontEndPlugin<IHopsworksSidebar> = {
  id: PLUGIN_ID,
  description:
    'The Hopsworks sidebar with its Project section (the signed-in user, their projects and the active project); other panels add their sections to it.',
  autoStart: true,
  provides: IHopsworksSidebar,
  optional: [
    ICommandPalette,
    ILayoutRestorer,
    IStateDB,
    ITranslator,
    ISettingRegistry
  ],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    state: IStateDB | null,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null
  ): IHopsworksSidebar => {
    translator = translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');

    const projects = new ProjectModel({ state });
    const client = createApiClient();
    const model = new HopsworksModel({ projects, client });
    const sidebar = new HopsworksSidebar({ model, client, translator });
    sidebar.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        className: 'hwl-refresh',
        tooltip: trans.__('Refresh'),
        onClick: () => sidebar.refresh()
      })
    );
    sidebar.addSection(new HopsworksPanel({ sidebar, translator }), 100);
    app.shell.add(sidebar, 'left', { rank: 1000 });
    if (restorer) {
      restorer.add(sidebar, sidebar.id);
    }
    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          sidebar.setPreferences(readPreferences(settings));
          settings.changed.connect(() =>
            sidebar.setPreferences(readPreferences(settings))
          );
        })
        .catch(reason => {
          console.warn('hopsworks-lab: settings not loaded', reason);
        });
    }
    // The active project is known even when the sidebar is never opened.
    void app.restored.then(() => {
      if (projects.mode === null) {
        sidebar.refresh();
      }
    });

    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('Open Hopsworks panel'),
      caption: trans.__('Show the Hopsworks panel in the left sidebar'),
      describedBy: { args: { type: 'object', properties: {} } },
      execute: () => {
        app.shell.activateById(sidebar.id);
      }
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: trans.__('Refresh Hopsworks panels'),
      describedBy: { args: { type: 'object', properties: {} } },
      execute: () => sidebar.refresh()
    });
    if (palette) {
      for (const command of [CommandIDs.open, CommandIDs.refresh]) {
        palette.addItem({ command, category: trans.__('Hopsworks') });
      }
    }
    return sidebar;
  }
};

/**
 * The active project for other extensions (the sidebar's model).
 */
const projectPlugin: JupyterFrontEndPlugin<IProjectModel> = {
  id: 'hopsworks-lab:project',
  description:
    "The active Hopsworks project: the server's own in a hub-spawned server, the one picked in the panel otherwise.",
  autoStart: true,
  requires: [IHopsworksSidebar],
  provides: IProjectModel,
  activate: (_: JupyterFrontEnd, sidebar: IHopsworksSidebar): IProjectModel =>
    sidebar.model.projects
};

export default [
  plugin,
  projectPlugin,
  membersPlugin,
  datasetsPlugin,
  sharingPlugin,
  environmentPlugin,
  jobsPlugin,
  experimentsPlugin
];
