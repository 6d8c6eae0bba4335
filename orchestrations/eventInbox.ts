import type * as df from 'durable-functions';

/**
 * The events of one name an orchestration receives while it also waits for timers and activities.
 *
 * Why not one `waitForExternalEvent` task raced again and again: the durable-functions SDK (3.x)
 * registers an event task with its executor every time the task is yielded inside a `Task.any` /
 * `Task.all`. A task that loses a race and is raced again is registered twice; once it has its event,
 * the second registration stays behind, and the next event that arrives while nothing else waits (the
 * orchestration is in an activity) is handed to that stale registration — the code never sees it.
 * That is how the cohort lost acknowledged provisioning requests after a wake-up timer had won a race.
 * (The Python SDK had the same bug: Azure/azure-functions-durable-python#538.)
 *
 * So every waiter here is yielded at most once. A waiter that lost its race stays registered and
 * catches a later event; `take()` collects those. The SDK gives an event to the most recently
 * registered open waiter, so received events are oldest first in reverse registration order.
 */
export class EventInbox<T> {
  /** Yielded once, registered with the SDK, result not yet taken; oldest registration first. */
  private registered: df.Task[] = [];
  private unyielded: df.Task | undefined;

  constructor(
    private readonly context: df.OrchestrationContext,
    private readonly name: string,
  ) {}

  /** A waiter to race in the next yield: never yielded before. Call `yielded()` right after that yield. */
  waiter(): df.Task {
    this.unyielded ??= this.context.df.waitForExternalEvent(this.name);
    return this.unyielded;
  }

  /** The waiter from `waiter()` was part of the yield that just returned: it is registered now. */
  yielded(): void {
    if (this.unyielded) this.registered.push(this.unyielded);
    this.unyielded = undefined;
  }

  /** Events received and not taken yet, oldest first. */
  take(): T[] {
    const received: T[] = [];
    for (let i = this.registered.length - 1; i >= 0; i--) {
      if (this.registered[i].isCompleted) received.push(this.registered[i].result as T);
    }
    if (received.length) this.registered = this.registered.filter((w) => !w.isCompleted);
    return received;
  }

  /**
   * Take every event already delivered to this execution, before it continues as new. The SDK keeps an
   * event that arrived while no waiter was registered until a waiter is yielded; on Azure, a JavaScript
   * orchestration's continue-as-new drops such events (the SDK cannot ask to preserve them), so each
   * gets a waiter here first: race a fresh waiter against a timer due now until the timer wins. Events
   * that arrive after the continue-as-new are carried into the next execution by the runtime.
   * Costs one timer (two history events) and an episode.
   */
  *drain(): Generator<df.Task, T[], unknown> {
    // Held-back events go to new waiters first come first served, so take them one round at a time.
    // One timer for all rounds (a timer may be raced again): held-back events are handed over as soon
    // as a waiter is yielded, so only the last round waits for it.
    const received = this.take();
    const timer = this.context.df.createTimer(this.context.df.currentUtcDateTime);
    for (;;) {
      const waiter = this.waiter();
      const winner = (yield this.context.df.Task.any([waiter, timer])) as df.Task;
      this.yielded();
      received.push(...this.take());
      if (winner === timer) return received;
    }
  }
}
