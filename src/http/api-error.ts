// CloudSigma's error format is a bare JSON list of objects; no library produces it, so it is built here.

/** The `error_type` values of CloudSigma API 2.0. */
export type ErrorType =
  | 'validation'
  | 'notexist'
  | 'permission'
  | 'backend'
  | 'database'
  | 'concurrency'
  | 'billing'
  | 'payment';

/** One entry of a CloudSigma error list. */
export interface ErrorEntry {
  error_type: ErrorType;
  error_message: string;
  /** The field the error is about, or null when it is about the request as a whole. */
  error_point: string | null;
}

/** An error that the one error handler turns into a CloudSigma error list with `status`. */
export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly status: number,
    readonly entries: ErrorEntry[],
    readonly headers: Record<string, string | string[]> = {},
    cause?: unknown,
  ) {
    super(entries.map((entry) => entry.error_message).join('; '), cause === undefined ? undefined : { cause });
  }
}

export function validationError(point: string | null, message: string): ApiError {
  return new ApiError(400, [{ error_type: 'validation', error_message: message, error_point: point }]);
}

/** Builds a 400 carrying one entry per invalid field. */
export function validationErrors(entries: Array<{ point: string | null; message: string }>): ApiError {
  return new ApiError(
    400,
    entries.map((entry) => ({ error_type: 'validation', error_message: entry.message, error_point: entry.point })),
  );
}

export function permissionError(message: string): ApiError {
  return new ApiError(403, [{ error_type: 'permission', error_message: message, error_point: null }]);
}

export function notFoundError(message: string): ApiError {
  return new ApiError(404, [{ error_type: 'notexist', error_message: message, error_point: null }]);
}

export function notAuthenticatedError(
  challenges: string[],
  message = 'authentication required: log in, or send HTTP Basic credentials or an API token (Authorization: Bearer)',
): ApiError {
  return new ApiError(
    401,
    [{ error_type: 'permission', error_message: message, error_point: null }],
    challenges.length > 0 ? { 'WWW-Authenticate': challenges } : {},
  );
}

/** Builds a 429 whose `Retry-After` gives the whole seconds to wait, rounded up, and at least one. */
export function tooManyRequestsError(retryAfterMs: number, message: (seconds: number) => string): ApiError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ApiError(
    429,
    [{ error_type: 'permission', error_message: message(seconds), error_point: null }],
    { 'Retry-After': String(seconds) },
  );
}
