/** Thrown when more password hashes wait than the queue allows; the request gets 503 with Retry-After. */
export class HashQueueFullError extends Error {
  override name = 'HashQueueFullError';
}

export interface HashLimits {
  /** Hashes computed at once; each takes one thread of libuv's pool and about one core. */
  concurrency: number;
  /** Hashes that may wait for a turn; one more is rejected at once. */
  queueLimit: number;
}

/**
 * Runs password hashes a few at a time and lets a bounded number wait, so that a burst of logins sheds its
 * excess quickly instead of making every login, and every other request, wait longer and longer.
 */
export class HashLimiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  /** Receives the seconds that each hash took to compute, not counting its wait for a turn. Metrics set it. */
  onComputed: ((seconds: number) => void) | null = null;

  constructor(private readonly limits: HashLimits) {}

  /** Hashes waiting for a turn. */
  get queueLength(): number {
    return this.waiting.length;
  }

  /** Hashes being computed. */
  get active(): number {
    return this.running;
  }

  /** Runs `work` when a turn is free; throws HashQueueFullError when the queue is full. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running < this.limits.concurrency) {
      this.running += 1;
    } else if (this.waiting.length < this.limits.queueLimit) {
      // The finishing hash hands its turn over, so `running` stays as it is.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      throw new HashQueueFullError('too many password checks are waiting');
    }

    const started = performance.now();
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
      this.onComputed?.((performance.now() - started) / 1000);
    }
  }
}
