/**
 * An AbortSignal that fires after `ms`, optionally also when `parent` aborts. Unlike AbortSignal.timeout its
 * timer keeps the process alive: a request whose socket undici has unref'd (a half-open connection to a
 * container that is still booting) would otherwise let Node exit mid-await with code 13.
 */
export function deadline(ms: number, parent?: AbortSignal): {signal: AbortSignal; clear: () => void} {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms)
  const onParentAbort = () => controller.abort(parent?.reason)
  if (parent?.aborted) controller.abort(parent.reason)
  else parent?.addEventListener('abort', onParentAbort, {once: true})
  return {
    clear() {
      clearTimeout(timer)
      parent?.removeEventListener('abort', onParentAbort)
    },
    signal: controller.signal,
  }
}
