/** The limits that reject a request with 429, named after their THROTTLE_* settings. */
export const THROTTLE_LIMITS = [
  'failures_per_ip',
  'failures_per_account',
  'create_per_ip',
  'create_per_address',
  'reset_per_ip',
  'reset_per_address',
] as const;

export type ThrottleLimit = (typeof THROTTLE_LIMITS)[number];

/** Receives the limit of every request that a throttle rejects, for metrics. */
export type ThrottleListener = (limit: ThrottleLimit) => void;
