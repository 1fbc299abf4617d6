/** Runs `count` jobs over `concurrency` lanes; each lane takes the next index when free. */
export async function runLanes(concurrency: number, count: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (failure === null && next < count) {
      const i = next++;
      try {
        await job(i);
      } catch (e) {
        failure ??= e;
      }
    }
  });
  await Promise.all(lanes);
  if (failure !== null) throw failure;
}
