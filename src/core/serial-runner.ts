/**
 * Runs an async job one at a time. A kick while it runs queues exactly one more run, so
 * kicks coalesce and none is lost — including one that lands after the job's last check
 * but before the runner notices the job ended. The job handles its own errors; anything
 * it lets through is passed to `onError` and the runner carries on.
 */
export function createSerialRunner(job: () => Promise<void>, onError: (e: unknown) => void) {
  let running: Promise<void> | null = null;
  let again = false;

  function kick(): void {
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await job().catch(onError);
      } while (again);
    })().finally(() => {
      running = null;
      if (again) kick();
    });
  }

  return {
    kick,
    /** Resolves when no run is in progress or queued. */
    async idle(): Promise<void> {
      while (running) await running;
    },
  };
}
