import fs from 'node:fs/promises';
import path from 'node:path';

import nodemailer, { type SendMailOptions } from 'nodemailer';

import type { OutboxMessage } from './outbox-store.js';

/** Something that accepts a finished message for delivery, or throws. */
export interface MailTransport {
  /** For logs: the kind of transport and where it delivers, never credentials. */
  description: string;
  send(message: OutboxMessage): Promise<void>;
  close(): void;
}

/** SMTP when `smtpUrl` is set, otherwise `.eml` files under `mailDir`. */
export function createMailTransport(smtpUrl: string | null, mailDir: string, from: string): MailTransport {
  return smtpUrl ? smtpTransport(smtpUrl, from) : fileTransport(mailDir, from);
}

function smtpTransport(smtpUrl: string, from: string): MailTransport {
  // Short timeouts, so that a stalled SMTP server fails one attempt (to be retried) instead of holding
  // the worker, and a graceful stop, for minutes.
  const transporter = nodemailer.createTransport(
    { url: smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 },
    { from },
  );
  const url = new URL(smtpUrl);

  return {
    description: `smtp://${url.host}`,
    send: async (message) => {
      await transporter.sendMail(mailOptions(message, from));
    },
    close: () => transporter.close(),
  };
}

function fileTransport(mailDir: string, from: string): MailTransport {
  const renderer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });

  return {
    description: `files in ${mailDir}`,
    send: async (message) => {
      const info = await renderer.sendMail(mailOptions(message, from));
      await fs.mkdir(mailDir, { recursive: true });

      // Named by outbox id and renamed into place, so a message written twice after a crash is one file,
      // and a reader never sees half a message.
      const file = path.join(mailDir, `${message.id}.eml`);
      const partial = `${file}.partial`;
      await fs.writeFile(partial, info.message as Buffer);
      await fs.rename(partial, file);
    },
    close: () => renderer.close(),
  };
}

function mailOptions(message: OutboxMessage, from: string): SendMailOptions {
  return {
    from,
    to: message.recipient,
    subject: message.subject,
    text: message.textBody,
    html: message.htmlBody,
    messageId: message.messageId,
  };
}
