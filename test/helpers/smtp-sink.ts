import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A real SMTP server on an ephemeral loopback port that keeps every message it accepts. */
export class SmtpSink {
  readonly messages: ParsedMail[] = [];
  /** While true, every message is refused with a temporary failure (451). */
  refusing = false;
  /** How many messages were rejected with 451 while `refusing` was set. */
  rejectedCount = 0;

  private readonly server: SMTPServer;
  private waiters: Array<() => void> = [];
  port = 0;

  constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, _session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          if (this.refusing) {
            this.rejectedCount += 1;
            callback(Object.assign(new Error('mailbox busy, try later'), { responseCode: 451 }));
            return;
          }
          simpleParser(Buffer.concat(chunks)).then(
            (mail) => {
              this.messages.push(mail);
              callback();
              for (const wake of this.waiters.splice(0)) wake();
            },
            (error: Error) => callback(error),
          );
        });
      },
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return `smtp://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Messages sent to `address`, in the order received. */
  to(address: string): ParsedMail[] {
    return this.messages.filter((mail) => recipients(mail).includes(address.toLowerCase()));
  }

  /** Waits until `count` messages went to `address`; throws after `timeoutMs`. */
  async waitFor(address: string, count = 1, timeoutMs = 10_000): Promise<ParsedMail[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.to(address).length < count) {
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} message(s) to ${address}, got ${this.to(address).length}`);
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.to(address);
  }
}

function recipients(mail: ParsedMail): string[] {
  const to = Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : [];
  return to.flatMap((group) => group.value.map((entry) => (entry.address ?? '').toLowerCase()));
}

/** The confirmation link in a message's text part. */
export function confirmationLinkIn(mail: ParsedMail): string {
  const match = /https?:\/\/\S+\/accounts\/confirm\/\?token=[A-Za-z0-9_%-]+/.exec(mail.text ?? '');
  if (!match) throw new Error(`no confirmation link in: ${mail.text ?? '(no text part)'}`);
  return match[0];
}

export function tokenOf(link: string): string {
  return decodeURIComponent(new URL(link).searchParams.get('token') ?? '');
}
