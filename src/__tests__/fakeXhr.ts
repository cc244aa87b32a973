/**
 * A fake XMLHttpRequest for the upload tests. Not a test file itself (no
 * `.spec`).
 */

/**
 * A stand-in for XMLHttpRequest (jsdom's sends nothing anywhere): records
 * the request, and the test plays the server's part.
 */
export class FakeXHR {
  static created: FakeXHR[] = [];

  static create(): XMLHttpRequest {
    const xhr = new FakeXHR();
    FakeXHR.created.push(xhr);
    return xhr as unknown as XMLHttpRequest;
  }

  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: unknown = undefined;
  sent = false;
  aborted = false;
  status = 0;
  statusText = '';
  responseText = '';
  upload: { onprogress: ((event: ProgressEvent) => void) | null } = {
    onprogress: null
  };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;

  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name: string, value: string): void {
    this.headers[name] = value;
  }

  send(body: unknown): void {
    this.body = body;
    this.sent = true;
  }

  abort(): void {
    this.aborted = true;
    this.onabort?.();
  }

  /**
   * The browser reports bytes sent.
   */
  progress(loaded: number, total: number): void {
    this.upload.onprogress?.({
      loaded,
      total,
      lengthComputable: true
    } as ProgressEvent);
  }

  /**
   * The server answers.
   */
  respond(status: number, body: unknown, statusText = ''): void {
    this.status = status;
    this.statusText = statusText;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}
