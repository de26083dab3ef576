// The signal server's refusals: an HTTP status, a CamelCase reason (as in a Kubernetes Status) and a
// one-line message; JSON routes answer { error, reason }, the krkn-compatible ones plain text.
export class HttpError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly headers: Record<string, string>;
  /** Extra JSON fields, such as the phase of a finished run. */
  readonly details: Record<string, unknown>;
  constructor(status: number, reason: string, message: string, options: { headers?: Record<string, string>; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.reason = reason;
    this.headers = options.headers ?? {};
    this.details = options.details ?? {};
  }
}

export const badRequest = (message: string) => new HttpError(400, 'BadRequest', message);
export const forbidden = (message: string) => new HttpError(403, 'Forbidden', message);
export const notFound = (message: string) => new HttpError(404, 'NotFound', message);
