export interface OutgoingMessage {
  id: string;
  recipient: string;
  subject: string;
  textBody: string;
  htmlBody: string;
  messageId: string;
}

export interface OutboxMessage extends OutgoingMessage {
  /** Delivery attempts so far, counting the one this claim starts. */
  attempts: number;
}

export interface UnsentCounts {
  queued: number;
  failed: number;
}

/** Persistence of queued mail and of the per-address send throttle. */
export interface OutboxStore {
  enqueue(message: OutgoingMessage, now: number): Promise<void>;
  /**
   * Leases the oldest due message to the caller until `leaseUntil` and counts an attempt. Returns null when
   * nothing is due. A message whose lease ran out (its node died mid-delivery) is due again.
   */
  claimDue(now: number, leaseUntil: number): Promise<OutboxMessage | null>;
  markSent(id: string, now: number): Promise<void>;
  /** Records a failed attempt; with `retryAt` null the message is given up. */
  markFailed(id: string, error: string, retryAt: number | null, now: number): Promise<void>;
  /**
   * Takes the address's send slot when its last email is at least `intervalMs` old. Returns false, changing
   * nothing, when the address was mailed more recently.
   */
  takeSendSlot(emailKey: string, now: number, intervalMs: number): Promise<boolean>;
  /** Counts messages not yet sent or given up. */
  countPending(): Promise<number>;
  /** Counts the messages never sent: those still queued (as countPending counts them) and those given up. */
  countUnsent(): Promise<UnsentCounts>;
  /**
   * Deletes every message to an address, sent or not, and its send throttle, so that no copy of the address
   * stays in either table. Recipients are matched without regard to case.
   */
  deleteForRecipient(emailKey: string): Promise<void>;
}
