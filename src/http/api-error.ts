// CloudSigma's error format is a bare JSON list of objects; no library produces it, so it is built here.

/** The `error_type` values of CloudSigma API 2.0. */
export const ERROR_TYPES = ['validation', 'notexist', 'permission', 'backend', 'database', 'concurrency', 'billing', 'payment'] as const;

export type ErrorType = (typeof ERROR_TYPES)[number];

/** One entry of a CloudSigma error list. */
export interface ErrorEntry {
  error_type: ErrorType;
  error_message: string;
  /** The field the error is about, or null when it is about the request as a whole. */
  error_point: string | null;
}

/** JSON Schema of a CloudSigma error list, the body of every 4xx and 5xx response of the API. */
export const ERROR_LIST_SCHEMA = {
  type: 'array',
  minItems: 1,
  items: {
    type: 'object',
    properties: {
      error_type: { type: 'string', enum: ERROR_TYPES },
      error_message: { type: 'string', description: 'What failed, and on which value.' },
      error_point: { type: ['string', 'null'], description: 'The field or parameter the error is about, or null when it is about the request as a whole.' },
    },
    required: ['error_type', 'error_message', 'error_point'],
    additionalProperties: false,
  },
} as const;

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
