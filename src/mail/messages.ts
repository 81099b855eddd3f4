import { randomUUID } from 'node:crypto';

import type { MailComposer } from './mail-composer.js';
import type { OutgoingMessage } from './outbox-store.js';

/** Builds the message that carries a link to set the first password of a new account. */
export function confirmationMessage(mail: MailComposer, recipient: string, link: string, validSeconds: number): OutgoingMessage {
  return mail.compose('confirmation', recipient, { link, validFor: duration(validSeconds) });
}

/** Builds the notice sent instead of a new link when someone signs up with an address that already has an account. */
export function existingAccountMessage(mail: MailComposer, recipient: string): OutgoingMessage {
  return mail.compose('existing-account', recipient, {});
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

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
