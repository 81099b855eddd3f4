import type { Generated } from 'kysely';

// Times are stored as milliseconds since the Unix epoch (UTC) so that both stores compare them the same way.

/** Row types of every table: what the database stores, not what clients see. */
export interface Database {
  accounts: AccountTable;
  tokens: TokenTable;
  sessions: SessionTable;
  outbox: OutboxTable;
  mail_throttle: MailThrottleTable;
  digest_nonces: DigestNonceTable;
  server_secrets: ServerSecretTable;
  promo_codes: PromoCodeTable;
  throttle_counters: ThrottleCounterTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  otp_recovery_codes: OtpRecoveryCodeTable;
  api_tokens: ApiTokenTable;
}

/** `deleted` marks an anonymised tombstone: no address, no password, no profile, only the uuid. */
export type AccountState = 'pending' | 'active' | 'disabled' | 'deleted';

export interface AccountTable {
  uuid: string;
  /** The address as given, trimmed, with its domain lower-cased and IDNA-encoded; mail goes to this form. */
  email: string;
  /** The form that uniqueness is checked on. */
  email_key: string;
  state: AccountState;
  password_hash: string | null;
  promo: string | null;
  created_at: number;
  confirmed_at: number | null;
  password_changed_at: number | null;
  /** Writable profile fields, a JSON object; fields never written are absent and read as their defaults. */
  profile: Generated<string>;
  /** The profile's `state`: NEW_USER, TRIAL or REGULAR. */
  profile_state: Generated<string>;
  /** Hex MD5 of "email:realm:password", for HTTP Digest. */
  digest_ha1_md5: string | null;
  /** Hex SHA-256 of "email:realm:password", for HTTP Digest (RFC 7616). */
  digest_ha1_sha256: string | null;
  deleted_at: number | null;
  /** When the account's promo code was counted against its limit, at confirmation. */
  promo_redeemed_at: number | null;
  /** Base32 TOTP secret while two-factor authentication is on, else null. */
  otp_secret: string | null;
  /** Base32 TOTP secret handed out by otp_setup and not yet confirmed by otp_enable. */
  otp_pending_secret: string | null;
  /** The highest TOTP time step whose code was accepted; codes of this step or earlier are refused. */
  otp_last_step: number | null;
  otp_enabled_at: number | null;
  /** 1 when API calls must come over HTTPS; mirrors the profile's `api_https_only`. */
  api_https_only: Generated<number>;
  /** Comma-separated CIDRs that API calls must come from, set by operators; null for anywhere. */
  network_restrictions: string | null;
}

export type TokenPurpose = 'confirm' | 'reset' | 'email';

export interface TokenTable {
  /** SHA-256 of the token, hex: the token itself is never stored. */
  digest: string;
  account_uuid: string;
  purpose: TokenPurpose;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  /** For `email` tokens: the address the account switches to when the token is used. */
  new_email: string | null;
}

export interface SessionTable {
  /** SHA-256 of the session id, hex. */
  digest: string;
  account_uuid: string;
  csrf_digest: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  ip: string | null;
  user_agent: string | null;
  /** Random id that names the session in the API; null only for sessions made before it existed. */
  public_id: string | null;
  /** 1 from login until the second factor of a two-factor account is verified. */
  second_factor_pending: Generated<number>;
}

export interface OutboxTable {
  id: string;
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string;
  /** Message-ID header, fixed at enqueue time so that a resent copy can be recognised as the same message. */
  message_id: string;
  created_at: number;
  attempts: Generated<number>;
  next_attempt_at: number;
  lease_until: number | null;
  sent_at: number | null;
  failed_at: number | null;
  last_error: string | null;
}

export interface MailThrottleTable {
  email_key: string;
  last_sent_at: number;
}

export interface DigestNonceTable {
  nonce: string;
  /** The highest nonce count (`nc`) accepted with this nonce: a request must send a higher one. */
  last_count: number;
  expires_at: number;
}

/** Random keys made once per database, so that every node sharing it signs and checks the same way. */
export interface ServerSecretTable {
  name: string;
  value: string;
  created_at: number;
}

export interface PromoCodeTable {
  /** The code in upper case: codes are matched without regard to case. */
  code: string;
  /** The profile `state` an account gets when it is confirmed with this code, or null for none. */
  grants_state: string | null;
  /** How many confirmations may redeem the code; null for no limit. */
  max_uses: number | null;
  uses: Generated<number>;
  expires_at: number | null;
  disabled_at: number | null;
  created_at: number;
}

/** A throttling counter, or a hold (a row whose count is unused) that ends at `expires_at`. */
export interface ThrottleCounterTable {
  key: string;
  count: number;
  expires_at: number;
}

/** One record of the audit hash chain; see src/audit/audit-store.ts for the meaning of each field. */
export interface AuditLogTable {
  seq: number;
  created_at: number;
  type: string;
  category: string;
  actor: string | null;
  account_uuid: string | null;
  ip: string | null;
  user_agent: string | null;
  /** 1 for success, 0 for failure. */
  success: number;
  reason: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

/** The single row (id 1) that holds the seq and hash of the last audit record; appends lock it. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface OtpRecoveryCodeTable {
  /** SHA-256 of the normalised recovery code, hex. */
  digest: string;
  account_uuid: string;
  created_at: number;
  used_at: number | null;
}

export interface ApiTokenTable {
  uuid: string;
  /** SHA-256 of the token's secret, hex. */
  digest: string;
  account_uuid: string;
  name: string;
  /** 1 for a token that may only read (GET, HEAD, OPTIONS). */
  read_only: number;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}
