/**
 * Work that a request starts but does not wait for, so that its duration never shows in the response time.
 * settle() waits for the tasks still running, for a graceful stop.
 */
export class BackgroundTasks {
  private readonly running = new Set<Promise<void>>();

  /** `maxRunning` bounds the work that a flood of requests can pile up. */
  constructor(private readonly maxRunning: number) {}

  /**
   * Starts `task` on a later turn of the event loop, after the current response is on its way, and hands
   * its failure to `onError`. Returns at once, unless `maxRunning` tasks are running already: then it waits
   * for this task, so that the caller is slowed down instead of the backlog growing.
   */
  async start(task: () => Promise<void>, onError: (error: unknown) => void): Promise<void> {
    const run: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(task)
      .catch(onError)
      .finally(() => this.running.delete(run));
    this.running.add(run);

    if (this.running.size > this.maxRunning) await run;
  }

  /** Waits until every task started so far, and every task they start meanwhile, has finished. */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }
}
