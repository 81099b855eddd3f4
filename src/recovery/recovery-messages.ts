import { button, duration, escapeHtml, message, page, paragraph, PRODUCT_NAME } from '../mail/messages.js';
import type { OutgoingMessage } from '../mail/outbox-store.js';

/** The means by which a password was replaced: an emailed reset link, or a caller who gave the old password. */
export type PasswordChangeKind = 'reset' | 'change';

/** Builds the message that carries a link to choose a new password. */
export function resetLinkMessage(recipient: string, link: string, validSeconds: number, messageHost: string): OutgoingMessage {
  const validFor = duration(validSeconds);
  const subject = `Reset your ${PRODUCT_NAME} password`;
  const text = [
    'Hello,',
    '',
    `someone, probably you, asked to reset the password of the ${PRODUCT_NAME} account of this address.`,
    'To choose a new password, open this link:',
    '',
    link,
    '',
    `The link works once and expires in ${validFor}. Setting the new password logs out every session of the`,
    'account. If you did not ask for a reset, ignore this message: your password stays as it is.',
  ].join('\n');

  const html = page(subject, [
    paragraph('Hello,'),
    paragraph(
      `someone, probably you, asked to reset the password of the ${escapeHtml(PRODUCT_NAME)} account of this address. ` +
        'To choose a new password, open this link:',
    ),
    button(link, 'Choose a new password'),
    paragraph(`Or copy this address into your browser: ${escapeHtml(link)}`),
    paragraph(
      `The link works once and expires in ${validFor}. Setting the new password logs out every session of the account. ` +
        'If you did not ask for a reset, ignore this message: your password stays as it is.',
    ),
  ]);

  return message(recipient, subject, text, html, messageHost);
}

/** Builds the notice to the owner that the account's password was replaced. */
export function passwordChangedMessage(
  recipient: string,
  kind: PasswordChangeKind,
  changedAt: number,
  serviceUrl: string,
  messageHost: string,
): OutgoingMessage {
  const subject = `Your ${PRODUCT_NAME} password was changed`;
  const when = `${new Date(changedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const changedBy = kind === 'reset' ? 'with a reset link sent to this address' : 'by someone who gave the old password';
  const changed = `The password of your ${PRODUCT_NAME} account at ${serviceUrl} was changed on ${when}, ${changedBy}.`;
  const consequences = 'Every session of the account was logged out, and earlier reset links no longer work.';
  const advice =
    'If you did not make this change, someone else knows your password or can read this mailbox: secure your ' +
    'email account, then request a password reset for this address at once.';

  const text = ['Hello,', '', changed, consequences, '', 'If you made this change, there is nothing more to do.', advice].join('\n');

  const html = page(subject, [
    paragraph('Hello,'),
    paragraph(`${escapeHtml(changed)} ${escapeHtml(consequences)}`),
    paragraph('If you made this change, there is nothing more to do.'),
    paragraph(escapeHtml(advice)),
  ]);

  return message(recipient, subject, text, html, messageHost);
}
