import type { Logger } from 'pino';

import type { OutboxStore } from './outbox-store.js';
import type { MailTransport } from './transport.js';

/** Outcomes of one delivery attempt: sent, failed with a retry planned, or failed for the last time. */
export const DELIVERY_RESULTS = ['sent', 'retry', 'given_up'] as const;

export type DeliveryResult = (typeof DELIVERY_RESULTS)[number];

export interface MailWorkerOptions {
  pollMilliseconds: number;
  leaseSeconds: number;
  maxAttempts: number;
}

// Retries wait 5 s, 10 s, 20 s, ... and never more than an hour.
const FIRST_RETRY_MS = 5000;
const MAX_RETRY_MS = 3600 * 1000;

/**
 * Delivers queued mail in the background: claims one due message at a time, hands it to the transport and
 * records the outcome. Requests only write to the outbox, so none of them waits for SMTP.
 *
 * NOTE: delivery is at least once. A message is marked sent right after the transport accepts it; if the
 * process dies between those two steps, the message is sent again when its lease runs out. It keeps its
 * Message-ID, so receivers can tell the copy apart; the file transport overwrites the same file.
 */
export class MailWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private wakeRequested = false;
  private stopped = true;

  constructor(
    private readonly outbox: OutboxStore,
    private readonly transport: MailTransport,
    private readonly options: MailWorkerOptions,
    private readonly log: Logger,
    /** Receives the result of every delivery attempt, for metrics. */
    private readonly onDelivery: (result: DeliveryResult) => void = () => {},
  ) {}

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Asks for a delivery pass now, for instance after a message was queued. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wakeRequested = true;
      return;
    }

    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.drain().finally(() => {
      this.running = null;
      this.schedule();
    });
  }

  /** Stops polling and waits for the message in hand, so that a clean stop never leaves one half-delivered. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;

    const delay = this.wakeRequested ? 0 : this.options.pollMilliseconds;
    this.wakeRequested = false;
    this.timer = setTimeout(() => this.wake(), delay);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped && (await this.deliverOne())) {
        // Keep going while messages are due.
      }
    } catch (error) {
      this.log.error({ err: error }, 'mail outbox could not be read; retrying at the next poll');
    }
  }

  private async deliverOne(): Promise<boolean> {
    const now = Date.now();
    const message = await this.outbox.claimDue(now, now + this.options.leaseSeconds * 1000);
    if (!message) return false;

    try {
      await this.transport.send(message);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const giveUp = message.attempts >= this.options.maxAttempts;
      const delay = Math.min(FIRST_RETRY_MS * 2 ** (message.attempts - 1), MAX_RETRY_MS);
      const retryAt = giveUp ? null : Date.now() + delay;

      await this.outbox.markFailed(message.id, reason, retryAt, Date.now());
      this.onDelivery(giveUp ? 'given_up' : 'retry');
      // The transport's message may quote the recipient, so logs get only its codes; the outbox row keeps
      // the whole reason for operators.
      const details = { mailId: message.id, attempts: message.attempts, ...errorCodes(error) };
      if (giveUp) {
        this.log.error(details, 'mail delivery failed; giving up');
      } else {
        this.log.warn({ ...details, retryInMs: delay }, 'mail delivery failed; will retry');
      }
      return true;
    }

    await this.outbox.markSent(message.id, Date.now());
    this.onDelivery('sent');
    this.log.info({ mailId: message.id, attempts: message.attempts }, 'mail delivered');
    return true;
  }
}

function errorCodes(error: unknown): { code?: string; responseCode?: number } {
  if (typeof error !== 'object' || error === null) return {};

  const { code, responseCode } = error as { code?: unknown; responseCode?: unknown };
  return {
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof responseCode === 'number' ? { responseCode } : {}),
  };
}
