import type { JupyterFrontEnd } from '@jupyterlab/application';
import { IFrame, MainAreaWidget } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { requestJSON } from './api';

/**
 * A TensorBoard the lab server runs over one run's trials (the lab-server
 * route `<baseUrl>hopsworks/tensorboard`, not part of the platform API, so
 * typed here by hand rather than generated from the OpenAPI spec).
 */
export interface ITensorBoard {
  id: string;
  project: string;
  /**
   * The run's folder under `Experiments`.
   */
  run: string;
  /**
   * Where it is served: an absolute path on the lab's origin, ending in `/`.
   */
  url: string;
  started_at: string;
  last_activity: string;
}

/**
 * The body of `POST hopsworks/tensorboard`.
 */
export interface ITensorBoardRequest {
  /**
   * Required standalone; in a hub server it must be the server's project.
   */
  project?: string;
  run: string;
}

/**
 * The lab server's TensorBoards (`GET hopsworks/tensorboard`).
 */
export interface ITensorBoardList {
  items: ITensorBoard[];
}

function tensorBoardUrl(settings: ServerConnection.ISettings): string {
  return URLExt.join(settings.baseUrl, 'hopsworks', 'tensorboard');
}

/**
 * Start (or find, it is idempotent per run) the TensorBoard of a run.
 */
export function startTensorBoard(
  body: ITensorBoardRequest,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<ITensorBoard> {
  return requestJSON<ITensorBoard>(
    tensorBoardUrl(settings),
    'hopsworks/tensorboard',
    settings,
    { method: 'POST', body }
  );
}

/**
 * The TensorBoards the lab server runs now.
 */
export function listTensorBoards(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<ITensorBoardList> {
  return requestJSON<ITensorBoardList>(
    tensorBoardUrl(settings),
    'hopsworks/tensorboard',
    settings
  );
}

/**
 * Stop a TensorBoard.
 */
export async function stopTensorBoard(
  id: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<void> {
  await requestJSON<void>(
    URLExt.join(tensorBoardUrl(settings), encodeURIComponent(id)),
    'hopsworks/tensorboard',
    settings,
    { method: 'DELETE' }
  );
}

/**
 * What TensorBoard's page may do in its frame: it is an app (scripts) that
 * reads its data from its own server (same origin), nothing more.
 */
export const TENSORBOARD_SANDBOX: IFrame.SandboxExceptions[] = [
  'allow-scripts',
  'allow-same-origin'
];

/**
 * The DOM id of the TensorBoard tab of a run.
 */
export function tensorBoardId(project: string, run: string): string {
  return `hwl-tensorboard-${project}-${run}`;
}

/**
 * A TensorBoard in a main-area tab.
 */
export class TensorBoardWidget extends MainAreaWidget<IFrame> {
  constructor(board: ITensorBoard, translator?: ITranslator) {
    const trans = (translator ?? nullTranslator).load('hopsworks_lab');
    const content = new IFrame({
      sandbox: TENSORBOARD_SANDBOX,
      referrerPolicy: 'same-origin'
    });
    content.url = board.url;
    super({ content });
    this.board = board;
    this.id = tensorBoardId(board.project, board.run);
    this.title.label = trans.__('TensorBoard: %1', board.run);
    this.title.caption = trans.__(
      'TensorBoard of run %1 (project %2)',
      board.run,
      board.project
    );
    this.title.closable = true;
    this.addClass('hwl-tensorboard');
    this.node.dataset.project = board.project;
    this.node.dataset.run = board.run;
  }

  readonly board: ITensorBoard;
}

/**
 * The options of {@link openTensorBoard}.
 */
export interface IOpenTensorBoardOptions {
  project: string;
  run: string;
  translator?: ITranslator;
  settings?: ServerConnection.ISettings;
}

/**
 * Start the TensorBoard of a run and show it in the main area (the tab
 * already open, if any, after the server confirms it still runs it).
 */
export async function openTensorBoard(
  app: JupyterFrontEnd,
  options: IOpenTensorBoardOptions
): Promise<TensorBoardWidget> {
  const board = await startTensorBoard(
    { project: options.project, run: options.run },
    options.settings
  );
  const id = tensorBoardId(board.project, board.run);
  const open = OPEN.get(id);
  if (open !== undefined && !open.isDisposed) {
    // A TensorBoard stopped when idle comes back at a new address.
    if (open.content.url !== board.url) {
      open.content.url = board.url;
    }
    app.shell.activateById(id);
    return open;
  }
  const widget = new TensorBoardWidget(board, options.translator);
  OPEN.set(id, widget);
  widget.disposed.connect(() => OPEN.delete(id));
  app.shell.add(widget, 'main');
  app.shell.activateById(id);
  return widget;
}

/**
 * The TensorBoard tabs open, by DOM id.
 */
const OPEN = new Map<string, TensorBoardWidget>();
