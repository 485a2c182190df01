/**
 * Deadlines for store operations, on one timer per timeout length instead of one per operation.
 *
 * Operations with the same timeout expire in the order they started, so they wait in a queue:
 * one timer is armed for the oldest pending one, and an operation that settles leaves the
 * queue's head at once when it is the oldest (the usual case: a memory or SQLite operation
 * settles before the next one starts). A request then costs no timer of its own: no insert
 * into the runtime's timer list and no cancel, only an entry in an array.
 */

/** One operation's deadline: its queue entry and its handle, one object per operation. */
export class Deadline {
  // Declared and set in the constructor: class fields would be lowered to defineProperty calls
  // per object (see SessionState), and there is one of these per store operation.
  declare private readonly queue: DeadlineQueue
  /** When it expires, on the monotonic clock (ms). */
  declare readonly at: number
  /** Called once, at the deadline, unless it settled first. */
  declare readonly expire: () => void
  declare settled: boolean

  constructor(queue: DeadlineQueue, at: number, expire: () => void) {
    this.queue = queue
    this.at = at
    this.expire = expire
    this.settled = false
  }

  /** Marks the operation done; `false` when its deadline had passed already (it expired). */
  settle(): boolean {
    if (this.settled) return false
    this.settled = true
    this.queue.settled(this)
    return true
  }
}

const now: () => number = typeof performance === 'object' && typeof performance?.now === 'function' ? () => performance.now() : Date.now

class DeadlineQueue {
  private queue: Deadline[] = []
  private head = 0
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly ms: number) {}

  add(expire: () => void): Deadline {
    const entry = new Deadline(this, now() + this.ms, expire)
    this.queue.push(entry)
    // An armed timer is due no later than this entry (it waits for an older one): it re-arms.
    if (this.timer === undefined) this._arm(this.ms)
    return entry
  }

  /** An entry settled: the head moves on when it was the oldest. */
  settled(entry: Deadline): void {
    if (this.queue[this.head] === entry) this._trim()
  }

  /** Drops settled entries from the head; compacts the array now and then. */
  private _trim(): void {
    const { queue } = this
    while (this.head < queue.length && queue[this.head]!.settled) this.head++
    if (this.head === queue.length) {
      queue.length = 0
      this.head = 0
    }
    else if (this.head >= 1024 && this.head * 2 >= queue.length) {
      this.queue = queue.slice(this.head)
      this.head = 0
    }
  }

  private _arm(ms: number): void {
    const timer = setTimeout(this._fire, Math.max(1, Math.ceil(ms)))
    // The operations keep the process alive, not their deadline: an idle server or a script
    // that is done exits as it would without the library.
    ;(timer as { unref?: () => void }).unref?.()
    this.timer = timer
  }

  private readonly _fire = (): void => {
    this.timer = undefined
    const at = now()
    const { queue } = this
    try {
      while (this.head < queue.length) {
        const entry = queue[this.head]!
        if (!entry.settled && entry.at > at) break
        this.head++
        if (!entry.settled) {
          entry.settled = true
          entry.expire()
        }
      }
    }
    finally {
      // Also when an expiry threw (a logger that throws): the ones behind it still expire.
      this._trim()
      if (this.head < this.queue.length) this._arm(this.queue[this.head]!.at - at)
    }
  }
}

const queues = new Map<number, DeadlineQueue>()

/** Calls `expire` after `ms` unless the returned deadline is settled first. */
export function deadline(ms: number, expire: () => void): Deadline {
  let queue = queues.get(ms)
  if (!queue) queues.set(ms, queue = new DeadlineQueue(ms))
  return queue.add(expire)
}
