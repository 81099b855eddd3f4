import type { ErrorType } from '../http/api-error.js';
import type { ClientInfo } from '../sessions/session-service.js';

/** The actor of every action taken through the operator command line. */
export const OPERATOR = 'operator';

// Each event type belongs to one category, shown as `category` in the audit-log API.
const CATEGORIES = {
  create: 'Accounts',
  confirm: 'Accounts',
  login: 'Accounts',
  logout: 'Accounts',
  request_password_reset: 'Accounts',
  reset_password: 'Accounts',
  change_password: 'Accounts',
  change_email: 'Accounts',
  confirm_email: 'Accounts',
  delete_account: 'Accounts',
  disable_account: 'Accounts',
  enable_account: 'Accounts',
  set_account_state: 'Accounts',
  set_network_restrictions: 'Accounts',
  set_api_https_only: 'Accounts',
  otp_setup: 'Two-factor',
  otp_enable: 'Two-factor',
  otp_disable: 'Two-factor',
  verify_otp: 'Two-factor',
  reset_two_factor: 'Two-factor',
  create_api_token: 'API tokens',
  revoke_api_token: 'API tokens',
  end_session: 'Sessions',
  end_other_sessions: 'Sessions',
  end_all_sessions: 'Sessions',
  create_promo: 'Promo codes',
  disable_promo: 'Promo codes',
  retry_mail: 'Mail',
  throttled: 'Throttling',
} as const;

/** The name of an event: the `do=` name of an account action, or the name of an operator or throttling action. */
export type AuditEventType = keyof typeof CATEGORIES;

// Reason codes of failed events, with the CloudSigma error fields that the audit-log API shows for them.
const REASONS = {
  unknown_account: { errorType: 'permission', errorPoint: null, message: 'no account has this address' },
  wrong_password: { errorType: 'permission', errorPoint: null, message: 'the password was wrong' },
  wrong_code: { errorType: 'permission', errorPoint: 'OTP', message: 'the two-factor code was wrong or already used' },
  account_not_active: { errorType: 'permission', errorPoint: null, message: 'the account was not active (unconfirmed, disabled or deleted)' },
  unknown_token: { errorType: 'validation', errorPoint: 'token', message: 'the token was not valid' },
  used_token: { errorType: 'validation', errorPoint: 'token', message: 'the token had been used, or a newer password had replaced it' },
  expired_token: { errorType: 'validation', errorPoint: 'token', message: 'the token had expired' },
  password_policy: { errorType: 'validation', errorPoint: null, message: 'the new password did not meet the password policy' },
  address_registered: { errorType: 'validation', errorPoint: 'email', message: 'the address already had an account, so its owner was emailed instead' },
  address_taken: { errorType: 'validation', errorPoint: 'token', message: 'another account had taken the new address' },
  same_address: { errorType: 'validation', errorPoint: 'email', message: 'the new address was the current one' },
  invalid_email: { errorType: 'validation', errorPoint: 'email', message: 'the new address was not valid' },
  mail_throttled: { errorType: 'permission', errorPoint: null, message: 'no email was sent, because the address had been sent one too recently' },
  unknown_session: { errorType: 'notexist', errorPoint: null, message: 'the account had no such session' },
  invalid_state: { errorType: 'validation', errorPoint: null, message: 'the account was not in a state that allows this action' },
  already_exists: { errorType: 'validation', errorPoint: null, message: 'the resource already existed' },
  not_found: { errorType: 'notexist', errorPoint: null, message: 'the resource did not exist' },
  rate_limited: { errorType: 'permission', errorPoint: null, message: 'too many requests came from this client; the request was rejected' },
} as const satisfies Record<string, { errorType: ErrorType; errorPoint: string | null; message: string }>;

/** The short code of the reason an event failed. */
export type AuditReason = keyof typeof REASONS;

/**
 * A security event to record. It must carry no secret: no password, token, session id, CSRF token or
 * `Authorization` header, and no email address.
 */
export interface AuditEvent {
  type: AuditEventType;
  /** The account uuid of the caller who acted, OPERATOR, or null for an anonymous caller. */
  actor: string | null;
  /** The account that the event is about, whose audit log shows it; null when it is about no account. */
  accountUuid: string | null;
  /** The IP address and user agent of the request; null for the operator command line. */
  client: ClientInfo | null;
  /** The reason the event failed; absent when it succeeded. */
  failure?: AuditReason;
  /** A short note without secrets, such as the public id of an ended session. */
  details?: string;
}

/** Returns the category of an event type, or 'Other' for a type that this version does not list. */
export function categoryOf(type: string): string {
  return Object.hasOwn(CATEGORIES, type) ? CATEGORIES[type as AuditEventType] : 'Other';
}

/** Returns the CloudSigma error fields of a failure reason; unknown codes read as a backend error. */
export function errorFieldsOf(reason: string): { errorType: ErrorType; errorPoint: string | null; message: string } {
  return Object.hasOwn(REASONS, reason) ? REASONS[reason as AuditReason] : { errorType: 'backend', errorPoint: null, message: reason };
}

/** Returns the event of an operator command, about the account `accountUuid` or about none. */
export function operatorEvent(type: AuditEventType, accountUuid: string | null, details = ''): AuditEvent {
  return { type, actor: OPERATOR, accountUuid, client: null, details };
}
