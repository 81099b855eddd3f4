import { escapeHtml, message, page, paragraph, PRODUCT_NAME } from '../mail/messages.js';
import type { OutgoingMessage } from '../mail/outbox-store.js';

/** Builds the notice to the owner that two-factor authentication was turned on or off. */
export function twoFactorChangedMessage(recipient: string, enabled: boolean, loginHint: string, messageHost: string): OutgoingMessage {
  const state = enabled ? 'on' : 'off';
  const subject = `Two-factor authentication is ${state} for your ${PRODUCT_NAME} account`;
  const consequence = enabled
    ? 'From now on, logging in needs a code from your authenticator app after the password. Keep your recovery codes somewhere safe.'
    : 'From now on, logging in needs only the password.';
  const lines = [
    `two-factor authentication was turned ${state} for your ${PRODUCT_NAME} account, and every other session was logged out.`,
    consequence,
    `If you did not do this, reset your password at once at ${loginHint} and tell your administrator.`,
  ];

  const text = ['Hello,', '', ...lines.flatMap((line) => [line, ''])].join('\n').trimEnd();
  const html = page(subject, [paragraph('Hello,'), ...lines.map((line) => paragraph(escapeHtml(line)))]);
  return message(recipient, subject, text, html, messageHost);
}
