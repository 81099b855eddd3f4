import type { MailComposer } from '../mail/mail-composer.js';
import type { OutgoingMessage } from '../mail/outbox-store.js';

/** Builds the notice to the owner that two-factor authentication was turned on or off. */
export function twoFactorChangedMessage(mail: MailComposer, recipient: string, enabled: boolean): OutgoingMessage {
  return mail.compose('two-factor-changed', recipient, { state: enabled ? 'on' : 'off', enabled });
}
