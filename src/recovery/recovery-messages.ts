import type { MailComposer } from '../mail/mail-composer.js';
import { duration } from '../mail/messages.js';
import type { OutgoingMessage } from '../mail/outbox-store.js';

/** The means by which a password was replaced: an emailed reset link, or a caller who gave the old password. */
export type PasswordChangeKind = 'reset' | 'change';

/** Builds the message that carries a link to choose a new password. */
export function resetLinkMessage(mail: MailComposer, recipient: string, link: string, validSeconds: number): OutgoingMessage {
  return mail.compose('password-reset', recipient, { link, validFor: duration(validSeconds) });
}

/** Builds the notice to the owner that the account's password was replaced. */
export function passwordChangedMessage(mail: MailComposer, recipient: string, kind: PasswordChangeKind, changedAt: number): OutgoingMessage {
  // Minutes in UTC, such as "2025-03-01 14:05 UTC".
  const when = `${new Date(changedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return mail.compose('password-changed', recipient, { changedAt: when, byResetLink: kind === 'reset' });
}
