import { type AddressObject, simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A message that the sink keeps unacknowledged until the test releases it. */
export interface HeldMessage {
  /** Resolves with the message once it has fully arrived, while its client still waits for the reply to DATA. */
  arrived: Promise<ParsedMail>;
  /** Resolves when the client that sent the held message has closed its connection. */
  disconnected: Promise<void>;
  /**
   * Acknowledges the message with 250 and keeps it, unless its client has disconnected meanwhile. Before
   * any message arrived, it cancels the hold, so that the next message is accepted at once.
   */
  release(): void;
}

interface Hold {
  /** SMTP session id of the held message, or null until a message arrives. */
  sessionId: string | null;
  arrive: (mail: ParsedMail) => void;
  disconnect: () => void;
  released: Promise<void>;
  release: () => void;
}

/** A real SMTP server on an ephemeral loopback port that keeps every message it accepts. */
export class SmtpSink {
  /** Messages acknowledged with 250, in the order acknowledged. */
  readonly messages: ParsedMail[] = [];
  /** While true, every message is refused with a temporary failure (451). */
  refusing = false;
  /** How many messages were rejected with 451 while `refusing` was set. */
  rejectedCount = 0;
  /** How many held messages were dropped because their client disconnected before the release. */
  droppedCount = 0;

  private readonly server: SMTPServer;
  private waiters: Array<() => void> = [];
  private hold: Hold | null = null;
  private readonly closedSessions = new Set<string>();
  port = 0;

  constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          if (this.refusing) {
            this.rejectedCount += 1;
            callback(Object.assign(new Error('mailbox busy, try later'), { responseCode: 451 }));
            return;
          }
          simpleParser(Buffer.concat(chunks)).then(
            (mail) => this.accept(mail, session.id, callback),
            (error: Error) => callback(error),
          );
        });
      },
      onClose: (session) => {
        this.closedSessions.add(session.id);
        if (this.hold?.sessionId === session.id) this.hold.disconnect();
      },
    });
  }

  /**
   * Holds the next message that arrives: the sink delays its reply to DATA until `release()`, so that a
   * test can act while the sending client waits. Only one message is held at a time.
   */
  holdNext(): HeldMessage {
    if (this.hold) throw new Error('holdNext() called while another hold is active; release that one first');

    let arrive: (mail: ParsedMail) => void = () => {};
    const arrived = new Promise<ParsedMail>((resolve) => (arrive = resolve));
    let disconnect: () => void = () => {};
    const disconnected = new Promise<void>((resolve) => (disconnect = resolve));
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const hold: Hold = { sessionId: null, arrive, disconnect, released, release };
    this.hold = hold;

    return {
      arrived,
      disconnected,
      release: () => {
        if (this.hold === hold) this.hold = null;
        hold.release();
      },
    };
  }

  private async accept(mail: ParsedMail, sessionId: string, callback: (error?: Error | null) => void): Promise<void> {
    const hold = this.hold;
    if (hold && hold.sessionId === null) {
      hold.sessionId = sessionId;
      hold.arrive(mail);
      await hold.released;

      // The client never got the 250 reply, which is where SMTP hands over responsibility for a message
      // (RFC 5321, section 6.1), so the sender still owns it and must send it again.
      if (this.closedSessions.has(sessionId)) {
        this.droppedCount += 1;
        return;
      }
    }

    this.messages.push(mail);
    callback();
    for (const wake of this.waiters.splice(0)) wake();
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
  let to: AddressObject[] = [];
  if (Array.isArray(mail.to)) to = mail.to;
  else if (mail.to) to = [mail.to];
  return to.flatMap((group) => group.value.map((entry) => (entry.address ?? '').toLowerCase()));
}

/** Returns the confirmation link in a message's text part. */
export function confirmationLinkIn(mail: ParsedMail): string {
  const match = /https?:\/\/\S+\/accounts\/confirm\/\?token=[A-Za-z0-9_%-]+/.exec(mail.text ?? '');
  if (!match) throw new Error(`no confirmation link in: ${mail.text ?? '(no text part)'}`);
  return match[0];
}

export function tokenOf(link: string): string {
  return decodeURIComponent(new URL(link).searchParams.get('token') ?? '');
}
