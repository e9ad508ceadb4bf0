/** One event of the engine's pull stream (dockerode `followProgress`). */
export interface PullEvent {
  id?: string
  status?: string
  progressDetail?: {current?: number; total?: number}
  error?: string
}

interface LayerProgress {
  done: boolean
  downloaded: number
  size?: number
}

// Events with an id but another status ("Pulling from <repo>" carries the tag or digest as its id) are not layers.
const LAYER_STATUS = /^(Pulling fs layer|Waiting|Downloading|Verifying Checksum|Download complete|Extracting|Pull complete|Already exists|Retrying)/

/** Adds up the pull stream's events: layers done of all, and bytes downloaded of the sizes known so far. */
export class PullProgress {
  private readonly layers = new Map<string, LayerProgress>()

  add(event: PullEvent): void {
    if (!event.id || !event.status || !LAYER_STATUS.test(event.status)) return
    const layer = this.layers.get(event.id) ?? {done: false, downloaded: 0}
    this.layers.set(event.id, layer)
    const {current, total} = event.progressDetail ?? {}
    switch (event.status) {
      case 'Downloading': {
        if (total !== undefined && total > 0) layer.size = total
        if (current !== undefined) layer.downloaded = current
        break
      }

      case 'Download complete':
      case 'Extracting': {
        if (total !== undefined && total > 0) layer.size = total
        if (layer.size !== undefined) layer.downloaded = layer.size
        break
      }

      case 'Pull complete': {
        layer.done = true
        if (layer.size !== undefined) layer.downloaded = layer.size
        break
      }

      case 'Already exists': {
        layer.done = true
        break
      }
    }
  }

  get layerCount(): number {
    return this.layers.size
  }

  get layersDone(): number {
    return [...this.layers.values()].filter((layer) => layer.done).length
  }

  get bytesDownloaded(): number {
    return [...this.layers.values()].reduce((sum, layer) => sum + layer.downloaded, 0)
  }

  /** The sizes of the layers that are downloaded or downloading; layers still waiting have no size yet. */
  get bytesKnown(): number {
    return [...this.layers.values()].reduce((sum, layer) => sum + (layer.size ?? 0), 0)
  }

  /** `2/5 layers ready, 12.3/40.1 MB` */
  describe(): string {
    const known = this.bytesKnown
    const bytes = known > 0 ? `, ${megabytes(this.bytesDownloaded)}/${megabytes(known)} MB` : ''
    return `${this.layersDone}/${this.layerCount} layers ready${bytes}`
  }

  /** `(3 layers, 40.1 MB)`, or `(3 layers, all present already)` when nothing was downloaded. */
  summary(): string {
    const layers = `${this.layerCount} layer${this.layerCount === 1 ? '' : 's'}`
    const downloaded = this.bytesDownloaded
    if (this.layerCount === 0 || downloaded === 0) return `(${layers}, all present already)`
    return `(${layers}, ${megabytes(downloaded)} MB)`
  }
}

function megabytes(bytes: number): string {
  return (bytes / 1_000_000).toFixed(1)
}

/** Lets a progress line through at most once per interval, so a log gets a line every few seconds, not one per event. */
export class Throttle {
  private last: number

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.last = now()
  }

  due(): boolean {
    const now = this.now()
    if (now - this.last < this.intervalMs) return false
    this.last = now
    return true
  }
}
