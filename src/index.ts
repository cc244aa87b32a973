import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

// The panel is small and its sidebar tab must exist as soon as the plugin
// activates, so it is not worth deferring.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { HopsworksPanel } from './panel';

/**
 * The command ids of the extension.
 */
export namespace CommandIDs {
  export const open = 'hopsworks-lab:open';
}

/**
 * Adds the Hopsworks panel to the left area.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'hopsworks-lab:plugin',
  description:
    'The Hopsworks panel: the signed-in user and their projects on the platform.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null
  ) => {
    translator = translator ?? nullTranslator;
    const trans = translator.load('hopsworks_lab');

    const panel = new HopsworksPanel({ translator });
    app.shell.add(panel, 'left', { rank: 1000 });
    if (restorer) {
      restorer.add(panel, panel.id);
    }

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
  }
};

export default plugin;
