import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { IProjectModel, ProjectModel } from './model';
// The panel is small and its sidebar tab must exist as soon as the plugin
// activates, so it is not worth deferring.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { HopsworksModel, HopsworksPanel } from './panel';

export { IProjectModel } from './model';

/**
 * The command ids of the extension.
 */
export namespace CommandIDs {
  export const open = 'hopsworks-lab:open';
}

/**
 * Adds the Hopsworks panel to the left area and provides the active project.
 */
const plugin: JupyterFrontEndPlugin<IProjectModel> = {
  id: 'hopsworks-lab:plugin',
  description:
    'The Hopsworks panel (the signed-in user, their projects and the active project) and the active project for the other panels.',
  autoStart: true,
  provides: IProjectModel,
  optional: [ICommandPalette, ILayoutRestorer, IStateDB, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    state: IStateDB | null,
    translator: ITranslator | null
  ): IProjectModel => {
    translator = translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');

    const projects = new ProjectModel({ state });
    const model = new HopsworksModel({ projects });
    const panel = new HopsworksPanel({ model, translator });
    app.shell.add(panel, 'left', { rank: 1000 });
    if (restorer) {
      restorer.add(panel, panel.id);
    }
    // The active project is known even when the panel is never opened.
    void app.restored.then(() => {
      if (projects.mode === null) {
        void model.refresh();
      }
    });

    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('Open Hopsworks panel'),
      caption: trans.__('Show the Hopsworks panel in the left sidebar'),
      describedBy: { args: { type: 'object', properties: {} } },
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });
    if (palette) {
      palette.addItem({
        command: CommandIDs.open,
        category: trans.__('Hopsworks')
      });
    }
    return projects;
  }
};

export default plugin;
