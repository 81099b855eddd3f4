import type { FastifyRequest } from 'fastify';

/** The actions whose outcomes are counted as login attempts. */
export const LOGIN_ACTIONS = ['login', 'verify_otp'] as const;

export type LoginAction = (typeof LOGIN_ACTIONS)[number];

/**
 * Outcomes of a login attempt, read from the response status. 200 is `success`, or `second_factor_pending`
 * for a login whose session still waits for verify_otp. 401 is `failure`, 429 `throttled`, and 503
 * `unavailable` (the hash queue was full or the database down). Another 4xx is `rejected`, another 5xx `error`.
 *
 * NOTE: verify_otp on a session that waits for no second factor returns 200 and so counts as `success`.
 */
export const LOGIN_OUTCOMES = ['success', 'second_factor_pending', 'failure', 'throttled', 'unavailable', 'rejected', 'error'] as const;

export type LoginOutcome = (typeof LOGIN_OUTCOMES)[number];

// A WeakSet lets go of a request once nothing else refers to it, so the set does not grow with traffic.
const secondFactorPending = new WeakSet<FastifyRequest>();

/** Marks a successful login whose session waits for the second factor, so that metrics count it apart. */
export function markSecondFactorPending(request: FastifyRequest): void {
  secondFactorPending.add(request);
}

/** Classifies the response to a login attempt as one of LOGIN_OUTCOMES. */
export function loginOutcomeOf(request: FastifyRequest, status: number): LoginOutcome {
  switch (status) {
    case 200:
      return secondFactorPending.has(request) ? 'second_factor_pending' : 'success';
    case 401:
      return 'failure';
    case 429:
      return 'throttled';
    case 503:
      return 'unavailable';
    default:
      return status >= 500 ? 'error' : 'rejected';
  }
}
