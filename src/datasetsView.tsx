import {
  Clipboard,
  Dialog,
  InputDialog,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { Time } from '@jupyterlab/coreutils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import {
  addIcon,
  closeIcon,
  copyIcon,
  deleteIcon,
  downloadIcon,
  editIcon,
  fileIcon,
  fileUploadIcon,
  folderIcon,
  LabIcon,
  launchIcon,
  newFolderIcon
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { APIError, ProjectRole } from './api';
import type { Dataset, DatasetsModel, Entry, IUploadState } from './datasets';
import { downloadUrl } from './drive';
import { confirmAction, notifyError } from './feedback';

/**
 * A byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`.
 */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/**
 * The path code uses for a dataset's file, with fsspec's `webhdfs` against
 * the platform: `/Projects/<project>/<dataset>/<path>`.
 */
export function webhdfsPath(project: string, path: string): string {
  return `/Projects/${project}/${path}`;
}

function confirmReplace(
  path: string,
  trans: TranslationBundle
): Promise<boolean> {
  return confirmAction({
    title: trans.__('Replace file?'),
    body: trans.__('%1 already exists. Replace it?', path),
    label: trans.__('Replace'),
    trans
  });
}

/**
 * Ask for a name; null when the user cancels or gives none.
 */
async function askName(
  title: string,
  label: string,
  trans: TranslationBundle,
  text = ''
): Promise<string | null> {
  const result = await InputDialog.getText({
    title,
    label,
    text,
    okLabel: trans.__('OK'),
    cancelLabel: trans.__('Cancel')
  });
  const value = result.value?.trim() ?? '';
  return result.button.accept && value ? value : null;
}

/**
 * The body of the New dataset dialog: a name and a description.
 */
class NewDatasetBody
  extends Widget
  implements Dialog.IBodyWidget<{ name: string; description: string }>
{
  constructor(trans: TranslationBundle) {
    super();
    this.addClass('hwl-new-dataset');
    const name = document.createElement('label');
    name.textContent = trans.__('Name');
    this._name = document.createElement('input');
    this._name.className = 'jp-mod-styled hwl-new-dataset-name';
    this._name.placeholder = trans.__('letters, digits, _ and -');
    name.appendChild(this._name);
    const description = document.createElement('label');
    description.textContent = trans.__('Description');
    this._description = document.createElement('textarea');
    this._description.className = 'jp-mod-styled hwl-new-dataset-description';
    description.appendChild(this._description);
    this.node.append(name, description);
  }

  getValue(): { name: string; description: string } {
    return {
      name: this._name.value.trim(),
      description: this._description.value.trim()
    };
  }

  protected onAfterAttach(): void {
    this._name.focus();
  }

  private _name: HTMLInputElement;
  private _description: HTMLTextAreaElement;
}

/**
 * Upload files into `folder`: ask before replacing a file that exists
 * (before sending the bytes, and again if the server answers 409
 * `file_exists`), report failures.
 */
export async function uploadFiles(
  model: DatasetsModel,
  folder: string,
  files: File[],
  trans: TranslationBundle
): Promise<void> {
  const started: Promise<void>[] = [];
  for (const file of files) {
    const path = `${folder}/${file.name}`;
    let overwrite = false;
    try {
      if (await model.exists(path)) {
        if (!(await confirmReplace(path, trans))) {
          continue;
        }
        overwrite = true;
      }
    } catch (error) {
      notifyError(trans.__('Could not upload %1', path), error);
      continue;
    }
    started.push(track(model, path, file, overwrite, trans));
  }
  await Promise.all(started);
}

async function track(
  model: DatasetsModel,
  path: string,
  file: File,
  overwrite: boolean,
  trans: TranslationBundle
): Promise<void> {
  try {
    await model.upload(path, file, overwrite).done;
  } catch (error) {
    if (error instanceof APIError && error.code === 'cancelled') {
      Notification.info(trans.__('Upload of %1 cancelled', path), {
        autoClose: 3000
      });
      return;
    }
    if (
      error instanceof APIError &&
      error.status === 409 &&
      error.code === 'file_exists' &&
      !overwrite
    ) {
      if (await confirmReplace(path, trans)) {
        await track(model, path, file, true, trans);
      }
      return;
    }
    notifyError(trans.__('Could not upload %1', path), error);
  }
}

/**
 * The props of {@link DatasetsView}.
 */
export interface IDatasetsViewProps {
  model: DatasetsModel;
  /**
   * The user's role in the active project.
   */
  role: ProjectRole | null;
  translator?: ITranslator;
  /**
   * Open a project's `<dataset>/<path>` in the lab (absent: no Open
   * buttons).
   */
  onOpenFile?: (project: string, path: string) => Promise<void>;
}

/**
 * A small icon button with an accessible label.
 */
function IconButton(props: {
  icon: LabIcon;
  label: string;
  className: string;
  onClick: () => void;
}): JSX.Element {
  return (
    <button
      type="button"
      className={`hwl-icon-button ${props.className}`}
      aria-label={props.label}
      title={props.label}
      onClick={event => {
        event.stopPropagation();
        props.onClick();
      }}
    >
      <props.icon.react tag="span" className="hwl-icon" />
    </button>
  );
}

/**
 * Render the Datasets section.
 */
export function DatasetsView(props: IDatasetsViewProps): JSX.Element {
  const { model, role, onOpenFile } = props;
  const trans = (props.translator ?? nullTranslator).load('hopsworks_lab');
  const state = model.state;
  const { project, folder, datasets, entries, total, uploads } = state;
  const dataset = model.dataset;
  const rights = dataset?.rights ?? null;
  const canWrite = !!folder && !!rights?.write;
  const input = React.useRef<HTMLInputElement>(null);
  const [dropping, setDropping] = React.useState(false);

  if (!project) {
    return (
      <div className="hwl-datasets">
        <p className="hwl-empty">{trans.__('Pick a project first.')}</p>
      </div>
    );
  }

  const run = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (error) {
      notifyError(what, error);
    }
  };

  const upload = (files: File[]) => {
    if (files.length > 0) {
      void uploadFiles(model, folder, files, trans);
    }
  };

  const newFolder = async () => {
    const name = await askName(trans.__('New folder'), trans.__('Name'), trans);
    if (name) {
      await run(trans.__('Could not create folder %1', name), () =>
        model.mkdir(name)
      );
    }
  };

  const newDataset = async () => {
    const result = await showDialog({
      title: trans.__('New dataset'),
      body: new NewDatasetBody(trans),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Create') })
      ]
    });
    const value = result.value;
    if (result.button.accept && value && value.name) {
      await run(trans.__('Could not create dataset %1', value.name), () =>
        model.createDataset(value.name, value.description)
      );
    }
  };

  const deleteDataset = async (name: string) => {
    const ok = await confirmAction({
      title: trans.__('Delete dataset?'),
      body: trans.__(
        'Delete the dataset %1 with all its data and shares? This cannot be undone.',
        name
      ),
      label: trans.__('Delete'),
      trans
    });
    if (ok) {
      await run(trans.__('Could not delete dataset %1', name), () =>
        model.deleteDataset(name)
      );
    }
  };

  const rename = async (entry: Entry) => {
    const name = await askName(
      trans.__('Rename'),
      trans.__('New name for %1', entry.path),
      trans,
      entry.name
    );
    if (name && name !== entry.name) {
      await run(trans.__('Could not rename %1', entry.path), () =>
        model.rename(entry.path, name)
      );
    }
  };

  const remove = async (entry: Entry) => {
    const ok = await confirmAction({
      title: trans.__('Delete?'),
      body:
        entry.type === 'dir'
          ? trans.__('Delete the folder %1 and everything in it?', entry.path)
          : trans.__('Delete %1?', entry.path),
      label: trans.__('Delete'),
      trans
    });
    if (ok) {
      await run(trans.__('Could not delete %1', entry.path), () =>
        model.remove(entry.path)
      );
    }
  };

  const copyPath = (path: string) => {
    const text = webhdfsPath(project, path);
    Clipboard.copyToSystem(text);
    Notification.info(trans.__('Copied %1', text), { autoClose: 3000 });
  };

  const navigate = (path: string) => {
    void run(trans.__('Could not open %1', path || trans.__('Datasets')), () =>
      model.open(path)
    );
  };

  const openFile =
    onOpenFile && rights?.download
      ? (entry: Entry) => void onOpenFile(project, entry.path)
      : null;

  const segments = folder ? folder.split('/') : [];

  return (
    <div className="hwl-datasets" data-folder={folder}>
      <div className="hwl-datasets-toolbar">
        {!folder && role === 'DATA_OWNER' && (
          <IconButton
            icon={addIcon}
            className="hwl-new-dataset-button"
            label={trans.__('New dataset')}
            onClick={() => void newDataset()}
          />
        )}
        {canWrite && (
          <>
            <IconButton
              icon={fileUploadIcon}
              className="hwl-upload-button"
              label={trans.__('Upload files')}
              onClick={() => input.current?.click()}
            />
            <IconButton
              icon={newFolderIcon}
              className="hwl-new-folder-button"
              label={trans.__('New folder')}
              onClick={() => void newFolder()}
            />
            <input
              ref={input}
              className="hwl-upload-input"
              type="file"
              multiple
              hidden
              onChange={event => {
                const files = Array.from(event.currentTarget.files ?? []);
                event.currentTarget.value = '';
                upload(files);
              }}
            />
          </>
        )}
      </div>
      <nav className="hwl-breadcrumbs" aria-label={trans.__('Folder')}>
        <button
          type="button"
          className="hwl-breadcrumb"
          data-path=""
          aria-current={folder ? undefined : 'location'}
          onClick={() => navigate('')}
        >
          {trans.__('Datasets')}
        </button>
        {segments.map((segment, i) => {
          const path = segments.slice(0, i + 1).join('/');
          return (
            <React.Fragment key={path}>
              <span className="hwl-breadcrumb-separator">/</span>
              <button
                type="button"
                className="hwl-breadcrumb"
                data-path={path}
                aria-current={path === folder ? 'location' : undefined}
                onClick={() => navigate(path)}
              >
                {segment}
              </button>
            </React.Fragment>
          );
        })}
      </nav>
      {state.loading && (
        <div className="hwl-loading" role="status">
          {trans.__('Loading…')}
        </div>
      )}
      {state.error && (
        <div className="hwl-error" role="alert">
          <p className="hwl-error-message">{state.error}</p>
        </div>
      )}
      {uploads.length > 0 && (
        <ul className="hwl-uploads" aria-label={trans.__('Uploads')}>
          {uploads.map(u => (
            <UploadRow
              key={u.id}
              upload={u}
              trans={trans}
              onCancel={() => model.cancelUpload(u.id)}
            />
          ))}
        </ul>
      )}
      {!folder && datasets && (
        <ul className="hwl-dataset-list">
          {datasets.length === 0 && (
            <li className="hwl-empty">{trans.__('No datasets.')}</li>
          )}
          {datasets.map(d => (
            <DatasetRow
              key={d.name}
              dataset={d}
              trans={trans}
              onOpen={() => navigate(d.name)}
              onCopy={() => copyPath(d.name)}
              onDelete={() => void deleteDataset(d.name)}
            />
          ))}
        </ul>
      )}
      {folder && entries && (
        <div
          className={
            dropping ? 'hwl-listing hwl-mod-dropTarget' : 'hwl-listing'
          }
          onDragOver={event => {
            if (canWrite && event.dataTransfer.types.includes('Files')) {
              event.preventDefault();
              event.dataTransfer.dropEffect = 'copy';
              setDropping(true);
            }
          }}
          onDragLeave={event => {
            // leaving a row for the listing itself is not leaving
            const to = event.relatedTarget;
            if (!(to instanceof Node && event.currentTarget.contains(to))) {
              setDropping(false);
            }
          }}
          onDrop={event => {
            setDropping(false);
            if (!canWrite) {
              return;
            }
            event.preventDefault();
            upload(Array.from(event.dataTransfer.files));
          }}
        >
          <ul className="hwl-file-list">
            {entries.map(entry => (
              <FileRow
                key={entry.path}
                entry={entry}
                project={project}
                model={model}
                trans={trans}
                canWrite={canWrite}
                canDownload={!!rights?.download}
                onNavigate={() => navigate(entry.path)}
                onOpen={openFile ? () => openFile(entry) : null}
                onCopy={() => copyPath(entry.path)}
                onRename={() => void rename(entry)}
                onDelete={() => void remove(entry)}
              />
            ))}
          </ul>
          {entries.length === 0 && (
            <p className="hwl-empty">
              {canWrite
                ? trans.__(
                    'This folder is empty: drop files here to upload them.'
                  )
                : trans.__('This folder is empty.')}
            </p>
          )}
          {entries.length < total && (
            <button
              type="button"
              className="jp-mod-styled hwl-load-more"
              disabled={state.loading}
              onClick={() =>
                void run(trans.__('Could not load %1', folder), () =>
                  model.loadMore()
                )
              }
            >
              {trans.__('Load more (%1 of %2)', entries.length, total)}
            </button>
          )}
        </div>
      )}
    </div>
  );
}

function DatasetRow(props: {
  dataset: Dataset;
  trans: TranslationBundle;
  onOpen: () => void;
  onCopy: () => void;
  onDelete: () => void;
}): JSX.Element {
  const { dataset, trans } = props;
  const pending = dataset.status === 'PENDING';
  return (
    <li
      className={pending ? 'hwl-dataset hwl-mod-pending' : 'hwl-dataset'}
      data-dataset={dataset.name}
      title={
        pending
          ? trans.__(
              'Offered to this project: a Data Owner accepts it in the Sharing section.'
            )
          : dataset.description || undefined
      }
    >
      <div className="hwl-dataset-header">
        <folderIcon.react tag="span" className="hwl-icon" />
        {pending ? (
          <span className="hwl-dataset-name">{dataset.name}</span>
        ) : (
          <button
            type="button"
            className="hwl-dataset-name hwl-link"
            onClick={props.onOpen}
          >
            {dataset.name}
          </button>
        )}
        {dataset.shared && dataset.permission && (
          <span
            className="hwl-badge hwl-permission-badge"
            data-permission={dataset.permission}
            title={trans.__('Shared into this project')}
          >
            {dataset.permission === 'READ_WRITE'
              ? trans.__('read-write')
              : trans.__('read-only')}
          </span>
        )}
        {pending && (
          <span className="hwl-badge hwl-pending-badge">
            {trans.__('pending')}
          </span>
        )}
        <span className="hwl-row-actions">
          {!pending && (
            <IconButton
              icon={copyIcon}
              className="hwl-copy-path"
              label={trans.__('Copy path of %1', dataset.name)}
              onClick={props.onCopy}
            />
          )}
          {dataset.rights?.delete && (
            <IconButton
              icon={deleteIcon}
              className="hwl-delete-dataset"
              label={trans.__('Delete dataset %1', dataset.name)}
              onClick={props.onDelete}
            />
          )}
        </span>
      </div>
      {dataset.description && (
        <div className="hwl-dataset-description">{dataset.description}</div>
      )}
    </li>
  );
}

function FileRow(props: {
  entry: Entry;
  project: string;
  model: DatasetsModel;
  trans: TranslationBundle;
  canWrite: boolean;
  canDownload: boolean;
  onNavigate: () => void;
  onOpen: (() => void) | null;
  onCopy: () => void;
  onRename: () => void;
  onDelete: () => void;
}): JSX.Element {
  const { entry, trans } = props;
  const dir = entry.type === 'dir';
  const open = dir ? props.onNavigate : props.onOpen;
  const Icon = dir ? folderIcon : fileIcon;
  return (
    <li
      className="hwl-file"
      data-path={entry.path}
      data-type={entry.type}
      onDoubleClick={open ?? undefined}
    >
      <Icon.react tag="span" className="hwl-icon" />
      {dir ? (
        <button
          type="button"
          className="hwl-file-name hwl-link"
          onClick={props.onNavigate}
        >
          {entry.name}
        </button>
      ) : (
        <span
          className="hwl-file-name"
          title={open ? trans.__('Double-click to open') : undefined}
        >
          {entry.name}
        </span>
      )}
      <span className="hwl-file-size">{dir ? '' : formatSize(entry.size)}</span>
      <span
        className="hwl-file-modified"
        title={entry.modified ? Time.format(entry.modified) : undefined}
      >
        {entry.modified ? Time.formatHuman(entry.modified) : ''}
      </span>
      <span className="hwl-row-actions">
        {!dir && props.onOpen && (
          <IconButton
            icon={launchIcon}
            className="hwl-open"
            label={trans.__('Open %1', entry.path)}
            onClick={props.onOpen}
          />
        )}
        {!dir && props.canDownload && (
          <a
            className="hwl-icon-button hwl-download"
            href={downloadUrl(
              props.project,
              entry.path,
              props.model.serverSettings
            )}
            download={entry.name}
            aria-label={trans.__('Download %1', entry.path)}
            title={trans.__('Download %1', entry.path)}
            onClick={event => event.stopPropagation()}
          >
            <downloadIcon.react tag="span" className="hwl-icon" />
          </a>
        )}
        <IconButton
          icon={copyIcon}
          className="hwl-copy-path"
          label={trans.__('Copy path of %1', entry.path)}
          onClick={props.onCopy}
        />
        {props.canWrite && (
          <>
            <IconButton
              icon={editIcon}
              className="hwl-rename"
              label={trans.__('Rename %1', entry.path)}
              onClick={props.onRename}
            />
            <IconButton
              icon={deleteIcon}
              className="hwl-delete"
              label={trans.__('Delete %1', entry.path)}
              onClick={props.onDelete}
            />
          </>
        )}
      </span>
    </li>
  );
}

function UploadRow(props: {
  upload: IUploadState;
  trans: TranslationBundle;
  onCancel: () => void;
}): JSX.Element {
  const { upload, trans } = props;
  const percent =
    upload.total > 0 ? Math.floor((upload.loaded / upload.total) * 100) : 0;
  return (
    <li
      className="hwl-upload"
      data-name={upload.name}
      data-path={upload.path}
      title={upload.path}
    >
      <span className="hwl-upload-name">{upload.name}</span>
      <progress
        className="hwl-upload-progress"
        value={upload.loaded}
        max={upload.total || 1}
        aria-label={trans.__('Upload of %1', upload.name)}
      />
      <span className="hwl-upload-percent">{trans.__('%1%', percent)}</span>
      <span className="hwl-upload-bytes">
        {trans.__(
          '%1 of %2',
          formatSize(upload.loaded),
          formatSize(upload.total)
        )}
      </span>
      <IconButton
        icon={closeIcon}
        className="hwl-upload-cancel"
        label={trans.__('Cancel upload of %1', upload.name)}
        onClick={props.onCancel}
      />
    </li>
  );
}
