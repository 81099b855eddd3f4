import { randomInt } from 'node:crypto';

import QRCode from 'qrcode';

import type { Account } from '../accounts/account-store.js';
import { digestOf } from '../crypto-tokens.js';
import type { MailComposer } from '../mail/mail-composer.js';
import { verifyCurrentPassword } from '../passwords/current-password.js';
import type { PasswordHasher } from '../passwords/password-hasher.js';
import type { ClientInfo, SessionService } from '../sessions/session-service.js';
import type { SessionRecord } from '../sessions/session-store.js';
import type { Store, Stores } from '../storage/store.js';
import { newTotpSecret, totpStepOf, totpUri } from './totp.js';
import { twoFactorChangedMessage } from './two-factor-messages.js';

/** The outcome of a second-factor code: `reused` is a right code whose time step was already used. */
export type CodeCheck = 'accepted' | 'wrong' | 'reused';

/** A failed two-factor change: the field at fault (a body field, `OTP` for the header, or none) and why. */
export interface ChangeRefusal {
  ok: false;
  field: 'password' | 'OTP' | null;
  reason: string;
}

export interface SetupResult {
  secret: string;
  uri: string;
  qrSvg: string;
}

export const RECOVERY_CODE_COUNT = 10;
// Twelve characters of a 31-letter alphabet without look-alikes (no 0, o, 1, i, l): 59 bits each.
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const RECOVERY_CODE_LENGTH = 12;

const ALREADY_ON = 'two-factor authentication is already on; turn it off with otp_disable before setting it up again';
const NOT_ON = 'two-factor authentication is not on for this account';
const INACTIVE = 'the account is disabled or deleted';
const WRONG_PASSWORD = 'password is not the current password of this account';
export const WRONG_CODE = 'the code in the OTP header is wrong or already used; wait for the next code of your authenticator app and retry';

/**
 * Turns TOTP two-factor authentication on and off, and checks second-factor codes: TOTP codes (RFC 6238)
 * and one-time recovery codes. TOTP secrets are stored as they are, because checking a code needs them;
 * recovery codes only as digests.
 */
export class TwoFactorService {
  constructor(
    private readonly store: Store,
    private readonly hasher: PasswordHasher,
    private readonly sessions: SessionService,
    private readonly mail: MailComposer,
    private readonly onMailQueued: () => void,
    /** The PRODUCT_NAME setting, which authenticator apps show as the issuer of the code. */
    private readonly productName: string,
  ) {}

  /** Makes a new secret for the account to confirm with otp_enable; an earlier unconfirmed one is replaced. */
  async setup(accountUuid: string, origin: ClientInfo): Promise<{ ok: true; setup: SetupResult } | ChangeRefusal> {
    const event = { type: 'otp_setup', actor: accountUuid, accountUuid, client: origin } as const;
    const account = await this.store.accounts.findByUuid(accountUuid);
    if (account?.state !== 'active') return { ok: false, field: null, reason: INACTIVE };
    if (account.twoFactorEnabled) {
      await this.store.audit.record({ ...event, failure: 'invalid_state' });
      return { ok: false, field: null, reason: ALREADY_ON };
    }

    const secret = newTotpSecret();
    const uri = totpUri(secret, this.productName, account.email);
    const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    await this.store.transaction(async (stores) => {
      await stores.twoFactor.setPendingSecret(accountUuid, secret);
      await stores.audit.record(event);
    });
    return { ok: true, setup: { secret, uri, qrSvg } };
  }

  /**
   * Turns two-factor authentication on when `password` is the account's and `code` is a current code of the
   * secret from otp_setup, so that a stolen session alone cannot lock the owner out. Every
   * session of the account but `keep` ends, and the owner gets a notice email. Returns the recovery codes,
   * which exist nowhere else.
   */
  async enable(
    accountUuid: string,
    password: string,
    code: string,
    keep: SessionRecord | null,
    now: number,
    origin: ClientInfo,
  ): Promise<{ ok: true; recoveryCodes: string[] } | ChangeRefusal> {
    const event = { type: 'otp_enable', actor: accountUuid, accountUuid, client: origin } as const;
    const account = await this.store.accounts.findByUuid(accountUuid);
    const state = await this.store.twoFactor.find(accountUuid);
    if (account?.state !== 'active' || !state) return { ok: false, field: null, reason: INACTIVE };
    if (state.secret !== null) return { ok: false, field: null, reason: ALREADY_ON };
    if (state.pendingSecret === null) return { ok: false, field: null, reason: 'call otp_setup first: there is no secret to confirm' };
    if (!(await verifyCurrentPassword(this.hasher, account.passwordHash, password))) {
      await this.store.audit.record({ ...event, failure: 'wrong_password' });
      return { ok: false, field: 'password', reason: WRONG_PASSWORD };
    }

    const step = totpStepOf(state.pendingSecret, code, now);
    if (step === null) {
      await this.store.audit.record({ ...event, failure: 'wrong_code' });
      return { ok: false, field: 'OTP', reason: 'the code in the OTP header is not a current code of the secret from otp_setup' };
    }

    const recoveryCodes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const enabled = await this.store.transaction(async (stores) => {
      if (!(await stores.twoFactor.enable(accountUuid, state.pendingSecret ?? '', step, now))) return false;
      await stores.twoFactor.replaceRecoveryCodes(accountUuid, recoveryCodes.map((recoveryCode) => recoveryDigest(accountUuid, recoveryCode)), now);
      await this.afterChange(stores, account, true, keep, now);
      await stores.audit.record(event);
      return true;
    });
    // A parallel otp_setup replaced the secret, or a parallel otp_enable turned it on first.
    if (!enabled) return { ok: false, field: null, reason: 'the secret changed meanwhile; call otp_setup again' };

    this.onMailQueued();
    return { ok: true, recoveryCodes };
  }

  /**
   * Turns two-factor authentication off after one check of the password and of `code` (a TOTP or recovery
   * code). A null `code` means the request's own authentication already took a code, as Basic and Digest
   * do on such an account. Every session of the account but `keep` ends, and the owner gets a notice email.
   */
  async disable(
    accountUuid: string,
    password: string,
    code: string | null,
    keep: SessionRecord | null,
    now: number,
    origin: ClientInfo,
  ): Promise<{ ok: true } | ChangeRefusal> {
    const event = { type: 'otp_disable', actor: accountUuid, accountUuid, client: origin } as const;
    const account = await this.store.accounts.findByUuid(accountUuid);
    if (account?.state !== 'active') return { ok: false, field: null, reason: INACTIVE };
    if (!account.twoFactorEnabled) return { ok: false, field: null, reason: NOT_ON };

    if (!(await verifyCurrentPassword(this.hasher, account.passwordHash, password))) {
      await this.store.audit.record({ ...event, failure: 'wrong_password' });
      return { ok: false, field: 'password', reason: WRONG_PASSWORD };
    }
    if (code !== null && (await this.checkCode(accountUuid, code, now)) !== 'accepted') {
      await this.store.audit.record({ ...event, failure: 'wrong_code' });
      return { ok: false, field: 'OTP', reason: WRONG_CODE };
    }

    await this.store.transaction(async (stores) => {
      await stores.twoFactor.disable(accountUuid);
      await this.afterChange(stores, account, false, keep, now);
      await stores.audit.record(event);
    });
    this.onMailQueued();
    return { ok: true };
  }

  /**
   * Checks a second-factor code of an account with two-factor authentication on, and uses it up. A TOTP
   * code passes for the current step or one step early or late, if no later step was accepted before. A
   * recovery code passes once.
   */
  async checkCode(accountUuid: string, code: string, now: number): Promise<CodeCheck> {
    const state = await this.store.twoFactor.find(accountUuid);
    if (state?.secret == null) return 'wrong';

    const trimmed = code.trim();
    if (/^\d{6}$/.test(trimmed)) {
      const step = totpStepOf(state.secret, trimmed, now);
      if (step === null) return 'wrong';
      return (await this.store.twoFactor.advanceStep(accountUuid, step)) ? 'accepted' : 'reused';
    }

    const recoveryCode = normalizeRecoveryCode(trimmed);
    if (recoveryCode === null) return 'wrong';
    return (await this.store.twoFactor.useRecoveryCode(accountUuid, recoveryDigest(accountUuid, recoveryCode), now)) ? 'accepted' : 'wrong';
  }

  private async afterChange(stores: Stores, account: Account, enabled: boolean, keep: SessionRecord | null, now: number): Promise<void> {
    await this.sessions.endOthers(account.uuid, keep, stores.sessions);
    await stores.outbox.enqueue(twoFactorChangedMessage(this.mail, account.email, enabled), now);
  }
}

function newRecoveryCode(): string {
  let code = '';
  for (let index = 0; index < RECOVERY_CODE_LENGTH; index += 1) code += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
}

/** Returns a recovery code without separators and in lower case, or null when it cannot be one. */
function normalizeRecoveryCode(code: string): string | null {
  const bare = code.replace(/[\s-]/g, '').toLowerCase();
  return bare.length === RECOVERY_CODE_LENGTH && [...bare].every((letter) => RECOVERY_ALPHABET.includes(letter)) ? bare : null;
}

// The account's uuid is part of the digest, so equal codes of two accounts never share a row.
function recoveryDigest(accountUuid: string, code: string): string {
  return digestOf(`${accountUuid}:${code.replace(/-/g, '')}`);
}
