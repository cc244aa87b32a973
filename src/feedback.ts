import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';

import { APIError } from './api';

/**
 * How long an error notification stays (ms): long enough to read a server
 * message, short enough not to pile up.
 */
export const ERROR_AUTO_CLOSE = 8000;

/**
 * Describe a failed request for the user.
 */
export function describeError(error: unknown): string {
  if (error instanceof APIError) {
    return error.status
      ? `${error.message} (HTTP ${error.status}, ${error.code})`
      : error.message;
  }
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

/**
 * Show an error as a notification: `message` as it is, or, with the error
 * that caused it, `message: <the error described>` (e.g. "Could not delete
 * a.csv: …").
 */
export function notifyError(message: string, error?: unknown): void {
  const text =
    error === undefined ? message : `${message}: ${describeError(error)}`;
  Notification.error(text, { autoClose: ERROR_AUTO_CLOSE });
}

/**
 * The options of {@link confirmAction}.
 */
export interface IConfirmOptions {
  title: string;
  body: string;
  /**
   * The label of the (warning) button that confirms.
   */
  label: string;
  trans: TranslationBundle;
}

/**
 * Ask the user to confirm a change that takes something away (Cancel and a
 * warning button); true when they do.
 */
export async function confirmAction(
  options: IConfirmOptions
): Promise<boolean> {
  const { title, body, label, trans } = options;
  const result = await showDialog({
    title,
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label })
    ]
  });
  return result.button.accept;
}
