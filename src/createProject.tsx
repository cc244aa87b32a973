import { Dialog, showDialog } from '@jupyterlab/apputils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Project, Schemas } from './api';
import { describeError, notifyError } from './feedback';
import type { HopsworksModel } from './panel';

/**
 * What the dialog asks for (the `ProjectCreate` body).
 */
export type ProjectCreate = Schemas['ProjectCreate'];

/**
 * The server's rule for project names (`ProjectName` in the spec).
 */
const PROJECT_NAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

/**
 * Why `name` cannot be a project name, or null when it can.
 */
export function projectNameProblem(
  name: string,
  trans: TranslationBundle
): string | null {
  if (name.length < 2 || name.length > 30) {
    return trans.__('A project name has 2 to 30 characters.');
  }
  if (!PROJECT_NAME.test(name)) {
    return trans.__(
      'A project name has lowercase letters, digits and single underscores, and starts with a letter.'
    );
  }
  return null;
}

/**
 * The form in the dialog: a name and a description.
 */
function CreateProjectForm(props: {
  initial: ProjectCreate;
  error: string | null;
  onChange: (value: ProjectCreate) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { trans } = props;
  const [name, setName] = React.useState(props.initial.name);
  const [description, setDescription] = React.useState(
    props.initial.description ?? ''
  );
  React.useEffect(() => {
    props.onChange({ name: name.trim(), description });
  }, [name, description]);
  return (
    <div className="hwl-create-project-form">
      <label className="hwl-field">
        <span className="hwl-field-label">{trans.__('Name')}</span>
        <input
          className="jp-mod-styled hwl-create-project-name"
          type="text"
          value={name}
          maxLength={30}
          placeholder={trans.__('e.g. fraud_detection')}
          aria-invalid={props.error !== null}
          onChange={event => setName(event.target.value)}
        />
      </label>
      <label className="hwl-field">
        <span className="hwl-field-label">{trans.__('Description')}</span>
        <textarea
          className="jp-mod-styled hwl-create-project-description"
          value={description}
          maxLength={2000}
          rows={3}
          onChange={event => setDescription(event.target.value)}
        />
      </label>
      <p className="hwl-hint">
        {trans.__(
          'You become the Data Owner of the new project. Its name cannot be changed later.'
        )}
      </p>
      {props.error && (
        <div className="hwl-error" role="alert">
          <p className="hwl-error-message">{props.error}</p>
        </div>
      )}
    </div>
  );
}

/**
 * The dialog's body; its value is what the user typed.
 */
class CreateProjectBody
  extends ReactWidget
  implements Dialog.IBodyWidget<ProjectCreate>
{
  constructor(
    initial: ProjectCreate,
    error: string | null,
    trans: TranslationBundle
  ) {
    super();
    this.addClass('hwl-create-project');
    this._value = initial;
    this._initial = initial;
    this._error = error;
    this._trans = trans;
  }

  getValue(): ProjectCreate {
    return this._value;
  }

  protected render(): JSX.Element {
    return (
      <CreateProjectForm
        initial={this._initial}
        error={this._error}
        onChange={value => (this._value = value)}
        trans={this._trans}
      />
    );
  }

  private _value: ProjectCreate;
  private _initial: ProjectCreate;
  private _error: string | null;
  private _trans: TranslationBundle;
}

/**
 * Ask for a name and a description and create the project
 * (`POST /api/projects`). A name the server would refuse, or a refusal
 * (e.g. 409: the name is taken), is shown and the dialog opens again with
 * what the user typed; nothing changes until the server creates it. On
 * success the project list is reloaded and (standalone) the new project
 * becomes the active one.
 *
 * @returns the new project, or null when the user gave up
 */
export async function createProjectDialog(
  model: HopsworksModel,
  translator?: ITranslator
): Promise<Project | null> {
  const trans = (translator ?? nullTranslator).load('hopsworks_lab');
  let value: ProjectCreate = { name: '', description: '' };
  let error: string | null = null;
  for (;;) {
    const result = await showDialog({
      title: trans.__('New project'),
      body: new CreateProjectBody(value, error, trans),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Create') })
      ],
      focusNodeSelector: '.hwl-create-project-name'
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    value = result.value;
    error = projectNameProblem(value.name, trans);
    if (error !== null) {
      continue;
    }
    try {
      return await model.createProject(value);
    } catch (reason) {
      error = describeError(reason);
      notifyError(error);
    }
  }
}
