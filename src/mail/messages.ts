import { randomUUID } from 'node:crypto';

import type { OutgoingMessage } from './outbox-store.js';

export const PRODUCT_NAME = 'sigma-accounts';

/** Builds the message that carries a link to set the first password of a new account. */
export function confirmationMessage(recipient: string, link: string, validSeconds: number, messageHost: string): OutgoingMessage {
  const validFor = duration(validSeconds);
  const subject = `Confirm your ${PRODUCT_NAME} account`;
  const text = [
    'Hello,',
    '',
    `someone, probably you, signed up for ${PRODUCT_NAME} with this address. To confirm the account and set`,
    'its password, open this link:',
    '',
    link,
    '',
    `The link works once and expires in ${validFor}. If you did not sign up, ignore this message:`,
    'no account is created without the link.',
  ].join('\n');

  const html = page(subject, [
    paragraph('Hello,'),
    paragraph(
      `someone, probably you, signed up for ${escapeHtml(PRODUCT_NAME)} with this address. ` +
        'To confirm the account and set its password, open this link:',
    ),
    button(link, 'Confirm and set a password'),
    paragraph(`Or copy this address into your browser: ${escapeHtml(link)}`),
    paragraph(
      `The link works once and expires in ${validFor}. If you did not sign up, ignore this message: ` +
        'no account is created without the link.',
    ),
  ]);

  return message(recipient, subject, text, html, messageHost);
}

/** Builds the notice sent instead of a new link when someone signs up with an address that already has an account. */
export function existingAccountMessage(recipient: string, loginHint: string, messageHost: string): OutgoingMessage {
  const subject = `Sign-up attempt for your ${PRODUCT_NAME} account`;
  const text = [
    'Hello,',
    '',
    `someone tried to sign up for ${PRODUCT_NAME} with this address, which already has an account.`,
    'Nothing has changed: your password and your sessions are as they were.',
    '',
    `If it was you, log in at ${loginHint} with your existing password.`,
    'If it was not you, you can ignore this message.',
  ].join('\n');

  const html = page(subject, [
    paragraph('Hello,'),
    paragraph(
      `someone tried to sign up for ${escapeHtml(PRODUCT_NAME)} with this address, which already has an account. ` +
        'Nothing has changed: your password and your sessions are as they were.',
    ),
    paragraph(`If it was you, log in at ${escapeHtml(loginHint)} with your existing password.`),
    paragraph('If it was not you, you can ignore this message.'),
  ]);

  return message(recipient, subject, text, html, messageHost);
}

/** Writes a number of seconds in the largest unit (days, hours, minutes) that divides it, else in minutes. */
export function duration(seconds: number): string {
  const units: Array<[string, number]> = [['day', 86400], ['hour', 3600], ['minute', 60]];
  for (const [unit, size] of units) {
    if (seconds >= size && seconds % size === 0) return plural(seconds / size, unit);
  }
  return plural(Math.max(1, Math.floor(seconds / 60)), 'minute');
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/** Builds an outgoing message with a new id, which also names its Message-ID on `messageHost`. */
export function message(recipient: string, subject: string, textBody: string, htmlBody: string, messageHost: string): OutgoingMessage {
  const id = randomUUID();
  return { id, recipient, subject, textBody, htmlBody, messageId: `<${id}@${messageHost}>` };
}

// Inline styles only: common mail clients drop <style> blocks and never load external sheets.
export function page(title: string, blocks: string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title></head>`,
    '<body style="margin:0;padding:24px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2328">',
    '<div style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;padding:24px">',
    ...blocks,
    '</div></body></html>',
  ].join('\n');
}

/** Wraps HTML that the caller has already escaped in a styled paragraph. */
export function paragraph(html: string): string {
  return `<p style="font-size:15px;line-height:1.5;margin:0 0 16px">${html}</p>`;
}

export function button(href: string, label: string): string {
  return (
    `<p style="margin:0 0 16px"><a href="${escapeHtml(href)}" ` +
    'style="display:inline-block;background:#0b5cad;color:#ffffff;text-decoration:none;padding:10px 18px;border-radius:6px">' +
    `${escapeHtml(label)}</a></p>`
  );
}

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
