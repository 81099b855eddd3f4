import { button, duration, escapeHtml, message, page, paragraph, PRODUCT_NAME } from '../mail/messages.js';
import type { OutgoingMessage } from '../mail/outbox-store.js';

/** Builds the message to the new address with the link that makes it the account's address. */
export function emailChangeLinkMessage(recipient: string, link: string, validSeconds: number, messageHost: string): OutgoingMessage {
  const validFor = duration(validSeconds);
  const subject = `Confirm your new ${PRODUCT_NAME} email address`;
  const text = [
    'Hello,',
    '',
    `someone, probably you, asked to use this address for a ${PRODUCT_NAME} account. To confirm it, open`,
    'this link:',
    '',
    link,
    '',
    `The link works once and expires in ${validFor}. Until it is used, the account keeps its current`,
    'address. If you did not ask for this, ignore this message.',
  ].join('\n');

  const html = page(subject, [
    paragraph('Hello,'),
    paragraph(`someone, probably you, asked to use this address for a ${escapeHtml(PRODUCT_NAME)} account. To confirm it, open this link:`),
    button(link, 'Confirm the new address'),
    paragraph(`Or copy this address into your browser: ${escapeHtml(link)}`),
    paragraph(
      `The link works once and expires in ${validFor}. Until it is used, the account keeps its current address. ` +
        'If you did not ask for this, ignore this message.',
    ),
  ]);

  return message(recipient, subject, text, html, messageHost);
}

/**
 * Builds the notice sent instead of a link when the new address is already registered, so that the
 * response to change_email never reveals whether it is.
 */
export function addressTakenMessage(recipient: string, loginHint: string, messageHost: string): OutgoingMessage {
  const subject = `Request to use your address on ${PRODUCT_NAME}`;
  const text = [
    'Hello,',
    '',
    `someone asked to move another ${PRODUCT_NAME} account to this address. This address is already`,
    'registered, so nothing has changed: your account, your password and your sessions are as they were.',
    '',
    `To use your account, log in at ${loginHint} with this address.`,
    'If you did not ask for this, you can ignore this message.',
  ].join('\n');

  const html = page(subject, [
    paragraph('Hello,'),
    paragraph(
      `someone asked to move another ${escapeHtml(PRODUCT_NAME)} account to this address. This address is already ` +
        'registered, so nothing has changed: your account, your password and your sessions are as they were.',
    ),
    paragraph(`To use your account, log in at ${escapeHtml(loginHint)} with this address.`),
    paragraph('If you did not ask for this, you can ignore this message.'),
  ]);

  return message(recipient, subject, text, html, messageHost);
}

/**
 * Builds the notice to the current address that a change was requested. Its text is the same whether or
 * not the new address is registered.
 */
export function emailChangeRequestedMessage(recipient: string, newAddress: string, messageHost: string): OutgoingMessage {
  const subject = `Email address change requested for your ${PRODUCT_NAME} account`;
  const text = [
    'Hello,',
    '',
    `someone logged in to your ${PRODUCT_NAME} account asked to change its email address to`,
    '',
    newAddress,
    '',
    'The change happens only when it is confirmed through a link sent to that address. Until then the',
    'account keeps this address.',
    '',
    'If you did not ask for this, someone else knows your password or uses one of your sessions.',
    'Change your password as soon as you can.',
  ].join('\n');

  const html = page(subject, [
    paragraph('Hello,'),
    paragraph(`someone logged in to your ${escapeHtml(PRODUCT_NAME)} account asked to change its email address to ${escapeHtml(newAddress)}.`),
    paragraph('The change happens only when it is confirmed through a link sent to that address. Until then the account keeps this address.'),
    paragraph(
      'If you did not ask for this, someone else knows your password or uses one of your sessions. ' +
        'Change your password as soon as you can.',
    ),
  ]);

  return message(recipient, subject, text, html, messageHost);
}
