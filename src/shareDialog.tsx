import { Dialog, showDialog } from '@jupyterlab/apputils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Schemas } from './api';
import type { ApiClient } from './client';
import { unwrap } from './client';
import { describeError, notifyError } from './feedback';
import { PERMISSIONS, permissionLabel } from './sharing';

/**
 * What the user entered in the share dialog (the body of `shareDataset`).
 */
export type ShareRequest = Schemas['ShareCreate'];

/**
 * The options of {@link showShareDialog}.
 */
export interface IShareDialogOptions {
  client: ApiClient;
  /**
   * The project that owns the dataset.
   */
  project: string;
  /**
   * The dataset to share (one of the project's own).
   */
  dataset: string;
  translator?: ITranslator;
}

/**
 * Ask for a target project and a permission, then offer `dataset` to that
 * project (`POST …/datasets/{dataset}/shares`). When the server refuses
 * (unknown project, already shared, …) its message is shown and the dialog
 * opens again with what the user typed, so nothing is lost and nothing
 * changes. Resolves true once shared, false when the user cancels.
 */
export async function showShareDialog(
  options: IShareDialogOptions
): Promise<boolean> {
  const { client, project, dataset } = options;
  const trans = (options.translator ?? nullTranslator).load('hopsworks_lab');
  let values: ShareRequest = { project: '', permission: 'READ_ONLY' };
  let error: string | null = null;
  for (;;) {
    const result = await showDialog({
      title: trans.__('Share %1', dataset),
      body: new ShareForm({ dataset, values, error, trans }),
      focusNodeSelector: 'input',
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Share') })
      ]
    });
    if (!result.button.accept || result.value === null) {
      return false;
    }
    values = result.value;
    if (values.project === '') {
      error = trans.__('Enter the name of the project to share with.');
      continue;
    }
    try {
      await unwrap(
        client.POST('/api/projects/{project}/datasets/{dataset}/shares', {
          params: { path: { project, dataset } },
          body: values
        })
      );
      return true;
    } catch (reason) {
      error = describeError(reason);
      notifyError(trans.__('Could not share %1', dataset), reason);
    }
  }
}

/**
 * The dialog's body. Its inputs are uncontrolled: {@link getValue} reads them
 * from the DOM when the user presses Share.
 */
class ShareForm
  extends ReactWidget
  implements Dialog.IBodyWidget<ShareRequest>
{
  constructor(private _props: IShareFormProps) {
    super();
    this.addClass('hwl-share-dialog');
  }

  getValue(): ShareRequest {
    const input = this.node.querySelector<HTMLInputElement>(
      'input.hwl-share-dialog-project'
    );
    const select = this.node.querySelector<HTMLSelectElement>(
      'select.hwl-share-dialog-permission'
    );
    const permission = PERMISSIONS.find(p => p === select?.value);
    return {
      project: (input?.value ?? this._props.values.project).trim(),
      permission: permission ?? this._props.values.permission
    };
  }

  protected render(): JSX.Element {
    return <ShareFormView {...this._props} />;
  }
}

interface IShareFormProps {
  dataset: string;
  values: ShareRequest;
  /**
   * Why the previous attempt failed, if it did.
   */
  error: string | null;
  trans: TranslationBundle;
}

function ShareFormView(props: IShareFormProps): JSX.Element {
  const { dataset, values, error, trans } = props;
  return (
    <div className="hwl-share-dialog-body" data-dataset={dataset}>
      <label className="hwl-share-dialog-field">
        <span>{trans.__('Project')}</span>
        <input
          className="jp-mod-styled hwl-share-dialog-project"
          type="text"
          name="project"
          defaultValue={values.project}
          placeholder={trans.__('name of the project to share with')}
          aria-label={trans.__('Project to share %1 with', dataset)}
          autoComplete="off"
          spellCheck={false}
        />
      </label>
      <label className="hwl-share-dialog-field">
        <span>{trans.__('Permission')}</span>
        <select
          className="jp-mod-styled hwl-share-dialog-permission"
          name="permission"
          defaultValue={values.permission ?? 'READ_ONLY'}
          aria-label={trans.__('Permission')}
        >
          {PERMISSIONS.map(permission => (
            <option key={permission} value={permission}>
              {permissionLabel(permission, trans)}
            </option>
          ))}
        </select>
      </label>
      <p className="hwl-share-dialog-hint">
        {trans.__(
          'A Data Owner of that project accepts the offer before its members see the dataset.'
        )}
      </p>
      {error && (
        <p className="hwl-share-dialog-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
