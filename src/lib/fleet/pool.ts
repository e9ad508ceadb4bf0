/**
 * Runs `work` over the items with at most `limit` in flight. Once `signal` is aborted no new item starts;
 * those already running are awaited. Items never started are left out of the answer.
 */
export async function inPool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>, signal?: AbortSignal): Promise<Array<{item: T; value: R}>> {
  const done: Array<{index: number; item: T; value: R}> = []
  let next = 0
  async function lane(): Promise<void> {
    while (next < items.length && !signal?.aborted) {
      const index = next++
      done.push({index, item: items[index], value: await work(items[index])})
    }
  }

  await Promise.all(Array.from({length: Math.min(limit, items.length)}, () => lane()))
  return done.sort((a, b) => a.index - b.index).map(({item, value}) => ({item, value}))
}
