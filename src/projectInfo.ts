import { ISignal, Signal } from '@lumino/signaling';

import type { Schemas } from './api';
import { ApiClient, unwrap } from './client';
import { describeError, notifyError } from './feedback';

export type Quota = Schemas['Quota'];
export type ComputeUsage = Schemas['ComputeUsage'];
export type CertificateBundle = Schemas['CertificateBundle'];

/**
 * What the Project section shows about the active project besides its name.
 */
export interface IProjectInfoState {
  /**
   * The project the rest of the state belongs to.
   */
  project: string | null;
  /**
   * Whether the usage (quota and compute) is being loaded.
   */
  loading: boolean;
  quota: Quota | null;
  quotaError: string | null;
  compute: ComputeUsage | null;
  computeError: string | null;
  /**
   * The user's certificate bundle in the project, once asked for.
   */
  certificate: CertificateBundle | null;
  certificateError: string | null;
  certificateLoading: boolean;
}

const EMPTY: IProjectInfoState = {
  project: null,
  loading: false,
  quota: null,
  quotaError: null,
  compute: null,
  computeError: null,
  certificate: null,
  certificateError: null,
  certificateLoading: false
};

/**
 * Loads the storage quota, the compute usage and (on demand) the user's
 * certificate of the active project.
 *
 * The certificate is fetched only when the user asks for it, and kept until
 * the project changes: reading it is audited on the server and returns the
 * key password, so it is not part of the periodic refresh.
 */
export class ProjectInfoModel {
  constructor(options: ProjectInfoModel.IOptions) {
    this._client = options.client;
  }

  get state(): IProjectInfoState {
    return this._state;
  }

  get stateChanged(): ISignal<this, IProjectInfoState> {
    return this._stateChanged;
  }

  /**
   * Reload the usage of `project` (null: nothing to show). Only the latest
   * load's answers are kept. A failure is shown inline, and notified once
   * (not again on every periodic refresh that fails the same way).
   */
  async load(project: string | null): Promise<void> {
    const generation = ++this._generation;
    const previous =
      project === this._state.project ? this._state : { ...EMPTY, project };
    if (project === null) {
      this._setState({ ...EMPTY });
      return;
    }
    this._setState({ ...previous, loading: true });
    const [quota, compute] = await Promise.allSettled([
      unwrap(
        this._client.GET('/api/projects/{project}/quotas', {
          params: { path: { project } }
        })
      ),
      unwrap(
        this._client.GET('/api/projects/{project}/compute', {
          params: { path: { project } }
        })
      )
    ]);
    if (generation !== this._generation) {
      return;
    }
    const quotaError =
      quota.status === 'rejected' ? describeError(quota.reason) : null;
    const computeError =
      compute.status === 'rejected' ? describeError(compute.reason) : null;
    for (const [error, before] of [
      [quotaError, previous.quotaError],
      [computeError, previous.computeError]
    ]) {
      if (error !== null && error !== before) {
        notifyError(error);
      }
    }
    this._setState({
      ...this._state,
      loading: false,
      quota: quota.status === 'fulfilled' ? quota.value : null,
      quotaError,
      compute: compute.status === 'fulfilled' ? compute.value : null,
      computeError
    });
  }

  /**
   * The user's certificate bundle in the active project: the one already
   * loaded, or fetched now. Null (and a notification) when it cannot be had.
   */
  async certificate(): Promise<CertificateBundle | null> {
    const { project, certificate } = this._state;
    if (project === null) {
      return null;
    }
    if (certificate !== null) {
      return certificate;
    }
    this._setState({
      ...this._state,
      certificateLoading: true,
      certificateError: null
    });
    try {
      const bundle = await unwrap(
        this._client.GET('/api/projects/{project}/certificates/me', {
          params: { path: { project } }
        })
      );
      if (this._state.project !== project) {
        return null;
      }
      this._setState({
        ...this._state,
        certificate: bundle,
        certificateLoading: false
      });
      return bundle;
    } catch (error) {
      const message = describeError(error);
      if (this._state.project === project) {
        this._setState({
          ...this._state,
          certificateError: message,
          certificateLoading: false
        });
      }
      notifyError(message);
      return null;
    }
  }

  private _setState(state: IProjectInfoState): void {
    this._state = state;
    this._stateChanged.emit(state);
  }

  private _client: ApiClient;
  private _generation = 0;
  private _state: IProjectInfoState = { ...EMPTY };
  private _stateChanged = new Signal<this, IProjectInfoState>(this);
}

/**
 * The namespace for {@link ProjectInfoModel} statics.
 */
export namespace ProjectInfoModel {
  export interface IOptions {
    client: ApiClient;
  }
}

/**
 * A limit of the quota and compute APIs that means "no limit".
 */
export const UNLIMITED = -1;

/**
 * A size for people, in binary units: `512 B`, `1.2 GiB`, `15 MiB`.
 */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) {
    return `${Math.round(value)} B`;
  }
  // One decimal, but none when it is zero ("2 GiB", not "2.0 GiB").
  const text = value.toFixed(1).replace(/\.0$/, '');
  return `${text} ${units[unit]}`;
}

/**
 * Hours for people: `0.5 h`, `12 h`, `1,234.5 h`.
 */
export function formatHours(hours: number): string {
  return `${formatNumber(Math.round(hours * 10) / 10)} h`;
}

/**
 * A count for people (`1,234`).
 */
export function formatNumber(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/**
 * The used share of a limit in percent (0–100, capped), or null when the
 * limit is unlimited (no bar then).
 */
export function usagePercent(used: number, limit: number): number | null {
  if (limit === UNLIMITED || limit < 0) {
    return null;
  }
  if (limit === 0) {
    return used > 0 ? 100 : 0;
  }
  return Math.min(100, Math.max(0, (used / limit) * 100));
}

/**
 * The file a certificate bundle is saved as: `<project>__<user>.pem`, the
 * certificate, the encrypted private key and the CA certificate one after
 * the other (what `openssl`, `requests` or a Kafka client take as one PEM).
 */
export function certificateBundleFile(
  project: string,
  username: string,
  bundle: CertificateBundle
): { name: string; content: string } {
  const pem = (text: string) => (text.endsWith('\n') ? text : text + '\n');
  return {
    name: `${project}__${username}.pem`,
    content: [bundle.certificate, bundle.private_key, bundle.ca]
      .map(pem)
      .join('')
  };
}

/**
 * Save `content` as a file named `name` through the browser (a Blob, an
 * object URL and a temporary `<a download>`).
 */
export function saveFile(
  name: string,
  content: string,
  type = 'application/x-pem-file'
): void {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.style.display = 'none';
  document.body.appendChild(link);
  try {
    link.click();
  } finally {
    link.remove();
    // Give the browser a moment to start the download before revoking.
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}
