import { DEFAULTS } from '../../defaults'
import { decodeSessionRecord, encodeSessionRecord, nextRecordText, rememberRecordText } from '../core/store'
import type { SessionIndexEntry, SessionRecord, SessionStore, SessionWrite } from '../core/store'
import { SqliteBusyError, whenFree } from '../storage/sqlite'
import type { SqliteSessions } from '../storage/sqlite'
import { indexFromRows, sweepInBatches } from './rows'
import type { SweptSession } from './rows'

/** Rows looked at per sweep step (a page in key order); each step is one short statement, with a pause between steps. */
export const SWEEP_BATCH = 1000

export interface SqliteSessionStoreOptions {
  /** The key prefix below the mount (`<prefix>:<sha-256 of the id>`), `''` for none. */
  prefix: string
  ttl?: number
  now?: () => number
  /**
   * How long an operation keeps trying while another process holds the database's lock, in ms.
   * Keep it at most the session's `storeTimeout`, which answers the request with a 503: an
   * operation still retried after that could land after the client was told it failed.
   * @default the driver's `busyTimeout` (the modules set it to the session's `storeTimeout`)
   */
  busyTimeout?: number
}

/**
 * The session store on the module's SQLite driver, used by `UnstorageSessionStore` when its
 * prefix is mounted there. Every operation is one statement or one `BEGIN IMMEDIATE`
 * transaction, so processes sharing the file never lose an update: an update reads and merges
 * the stored record under the write lock, never writes to an ended one, and `regenerate()` moves
 * the row in one transaction (exactly one of two concurrent ones wins). A user's devices index is
 * the set of session rows that name the user, so it cannot lose an entry, and a session that
 * ends leaves it with its own row.
 */
export class SqliteSessionStore implements SessionStore {
  readonly ttl: number
  private readonly keyPrefix: string
  private readonly now: () => number
  private readonly ownBusyTimeout?: number

  constructor(private readonly db: SqliteSessions, options: SqliteSessionStoreOptions) {
    this.keyPrefix = options.prefix ? `${options.prefix}:` : ''
    this.ttl = options.ttl ?? DEFAULTS.ttl
    this.now = options.now ?? Date.now
    this.ownBusyTimeout = options.busyTimeout
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const raw = await this._retry(() => this.db.get(this.keyPrefix + key))
    if (raw === undefined) return undefined
    const record = decodeSessionRecord(raw)
    rememberRecordText(record, raw)
    return record
  }

  async getMany(keys: readonly string[]): Promise<(SessionRecord | undefined)[]> {
    const raws = await this._retry(() => this.db.getMany(keys.map(key => this.keyPrefix + key)))
    return raws.map((raw) => {
      if (raw === undefined) return undefined
      try {
        return decodeSessionRecord(raw)
      }
      catch {
        return undefined
      }
    })
  }

  async set(key: string, record: SessionRecord, write: SessionWrite): Promise<boolean> {
    const full = this.keyPrefix + key
    if (write.create) {
      const text = write.encoded ?? encodeSessionRecord(record)
      await this._retry(() => this.db.create(full, text, record.expiresAt))
      rememberRecordText(record, text)
      return true
    }
    return this._retry(() => this.db.update(full, (raw) => {
      const value = nextRecordText(raw, record, write, this.now())
      return value === undefined ? undefined : { value, expiresAt: record.expiresAt }
    }))
  }

  async move(from: string, to: string, record: SessionRecord, write: SessionWrite): Promise<boolean> {
    return this._retry(() => this.db.move(this.keyPrefix + from, this.keyPrefix + to, (raw) => {
      const value = nextRecordText(raw, record, write, this.now())
      return value === undefined ? undefined : { value, expiresAt: record.expiresAt }
    }))
  }

  /** Any two keys: a row moves within one database. */
  sameSlot(): boolean {
    return true
  }

  async delete(key: string): Promise<void> {
    await this._retry(() => this.db.delete(this.keyPrefix + key))
  }

  async indexAdd(userKey: string, _handle: string, entry: SessionIndexEntry): Promise<void> {
    await this._retry(() => this.db.indexAdd(this.keyPrefix + entry.key, userKey, entry.createdAt, entry.label))
  }

  async indexList(userKey: string): Promise<Record<string, SessionIndexEntry>> {
    return indexFromRows(await this._retry(() => this.db.indexList(userKey, this.keyPrefix)), this.keyPrefix)
  }

  async indexRemove(userKey: string, handles: readonly string[]): Promise<void> {
    if (!handles.length) return
    const rows = await this._retry(() => this.db.indexList(userKey, this.keyPrefix))
    const keys = rows.filter(row => handles.includes(row.key.slice(-24))).map(row => row.key)
    if (keys.length) await this._retry(() => this.db.indexRemove(userKey, keys))
  }

  /**
   * Deletes the rows under the prefix that expired before now; returns how many went. In the
   * database's maintenance thread where there is one, else `SWEEP_BATCH` at a time on the event
   * loop with a pause between batches (always so when `onBatch`, which sees each batch's size).
   */
  async sweep(onBatch?: (removed: number) => void, onExpired?: SweptSession): Promise<number> {
    const now = this.now()
    const report = onExpired && ((ended: [string, string | null][]) => {
      for (const [key, userId] of ended) onExpired(key.slice(this.keyPrefix.length), userId ?? undefined)
    })
    // In the database's maintenance thread when there is one: nothing of it on the event loop.
    const inThread = onBatch ? undefined : this.db.sweepInThread(this.keyPrefix, now, SWEEP_BATCH, report)
    if (inThread) return inThread
    let after: string | undefined = this.keyPrefix
    return sweepInBatches(async () => {
      const from = after!
      const page = await this._retry(() => this.db.sweepPage(this.keyPrefix, from, now, SWEEP_BATCH, Boolean(report)))
      if (page.ended) report?.(page.ended)
      onBatch?.(page.removed)
      after = page.last
      return { removed: page.removed, more: after !== undefined }
    })
  }

  /**
   * A database call, retried on a timer while another connection holds the lock. The first try
   * is made at once, without an async function around it: a read costs no extra promise hops.
   */
  private _retry<T>(op: () => T): Promise<T> {
    try {
      return Promise.resolve(op())
    }
    catch (error) {
      if (!(error instanceof SqliteBusyError)) return Promise.reject(error)
      return whenFree(op, this.ownBusyTimeout ?? this.db.busyTimeout)
    }
  }
}
