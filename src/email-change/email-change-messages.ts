import type { MailComposer } from '../mail/mail-composer.js';
import { duration } from '../mail/messages.js';
import type { OutgoingMessage } from '../mail/outbox-store.js';

/** Builds the message to the new address with the link that makes it the account's address. */
export function emailChangeLinkMessage(mail: MailComposer, recipient: string, link: string, validSeconds: number): OutgoingMessage {
  return mail.compose('email-change-link', recipient, { link, validFor: duration(validSeconds) });
}

/**
 * Builds the notice sent instead of a link when the new address is already registered, so that the
 * response to change_email never reveals whether it is.
 */
export function addressTakenMessage(mail: MailComposer, recipient: string): OutgoingMessage {
  return mail.compose('email-change-address-taken', recipient, {});
}

/**
 * Builds the notice to the current address that a change was requested. Its text is the same whether or
 * not the new address is registered.
 */
export function emailChangeRequestedMessage(mail: MailComposer, recipient: string, newAddress: string): OutgoingMessage {
  return mail.compose('email-change-requested', recipient, { newAddress });
}
