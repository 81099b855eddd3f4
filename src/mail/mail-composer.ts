import type { Config } from '../config.js';
import type { MailTemplateName, MailTemplates, MailValues } from './mail-templates.js';
import { message } from './messages.js';
import type { OutgoingMessage } from './outbox-store.js';

type MailSettings = Pick<Config, 'productName' | 'mailLinkBase' | 'publicUrl'>;

/** Renders emails from the templates, filling in the product name and the link base that every message shares. */
export class MailComposer {
  /** Base URL of every link in emails (MAIL_LINK_BASE), without a trailing slash. */
  readonly linkBase: string;
  private readonly productName: string;
  private readonly messageHost: string;

  constructor(
    private readonly templates: MailTemplates,
    settings: MailSettings,
  ) {
    this.linkBase = settings.mailLinkBase;
    this.productName = settings.productName;
    // Message-IDs name the PUBLIC_URL host whatever base the links use.
    this.messageHost = new URL(settings.publicUrl).hostname || 'localhost';
  }

  /** Builds the message `name` to `recipient`, with a new id and Message-ID. */
  compose<Name extends MailTemplateName>(name: Name, recipient: string, values: MailValues<Name>): OutgoingMessage {
    const rendered = this.templates.render(name, { ...values, productName: this.productName, serviceUrl: this.linkBase });
    return message(recipient, rendered.subject, rendered.text, rendered.html, this.messageHost);
  }
}
