import type { Storage } from 'unstorage'
import { DEFAULTS } from '../../defaults'
import type { SessionLogger } from '../../types'
import { consoleLogger } from '../core/config'
import { SessionRecordError } from '../core/errors'
import { decodeSessionRecord, encodeSessionRecord, isPlainObject, parseIndex, parseJsonValue } from '../core/store'
import type { SessionIndexEntry, SessionRecord, SessionStore, SessionWrite } from '../core/store'
import type { SessionFsDriver } from '../storage/fs'

/** Options of {@link UnstorageSessionStore}. */
export interface UnstorageSessionStoreOptions {
  /**
   * Default idle timeout of the sessions kept here, in seconds, used when the `ttl` option of
   * `useSession` is not given. Drivers with native expiry get each record's own remaining
   * lifetime on every write.
   * @default 86400
   */
  ttl?: number
  /**
   * Key prefix; records live under `<prefix>:<sha-256 of the id>`. Everything under it belongs
   * to the store: the sweep removes whatever is not a live session record.
   * @default 'sess'
   */
  prefix?: string
  /**
   * How often, in seconds, expired records are swept from drivers that do not expire keys by
   * themselves (memory, fs, ...). The sweep runs in the background after a write; `0` turns it
   * off (call `sweep()` from a scheduled task instead).
   * @default 3600
   */
  sweepInterval?: number
  /** Where sweep failures are reported. @default console */
  logger?: SessionLogger
  /** The clock used to decide what the sweep removes. Only for tests. @default Date.now */
  now?: () => number
}

/** Drivers that expire keys natively: no sweep is needed there. */
const NATIVE_TTL_DRIVERS = new Set(['redis', 'cloudflare-kv-binding', 'cloudflare-kv-http', 'upstash', 'vercel-kv', 'deno-kv', 'deno-kv-node'])

/**
 * A session store over any unstorage instance (memory, fs, redis, Cloudflare KV, db0, ...).
 *
 * Every read checks the record's own timestamps, so expiry holds on drivers without native TTL;
 * those are also swept of expired records now and then. Updates re-read the record and merge
 * only the changed keys into it, and never recreate a record that is gone, which narrows, but
 * cannot close, the windows for lost updates and resurrection: unstorage has no atomic
 * read-modify-write. Use `RedisSessionStore` where that matters.
 */
export class UnstorageSessionStore implements SessionStore {
  readonly ttl: number
  readonly prefix: string
  /** How often the background sweep runs, in ms; 0 when it is off. */
  readonly sweepIntervalMs: number
  private readonly logger: SessionLogger
  private readonly now: () => number
  private lastSweep: number
  private sweeping?: Promise<number>
  /** The stored text of records this store read or wrote, to see that one is still what is stored. */
  private readonly textOf = new WeakMap<SessionRecord, string>()
  /** The module's own fs driver when it holds this prefix, with its mount point; `null` for any other. */
  private direct?: { driver: SessionFsDriver, base: string } | null
  private probing?: Promise<void>

  constructor(readonly storage: Storage, options: UnstorageSessionStoreOptions = {}) {
    if (!storage || typeof storage.getItemRaw !== 'function') {
      throw new TypeError('[nuxt-server-session] UnstorageSessionStore needs an unstorage instance: new UnstorageSessionStore(createStorage({ driver })).')
    }
    this.ttl = options.ttl ?? DEFAULTS.ttl
    this.prefix = options.prefix ?? DEFAULTS.prefix
    if (typeof this.prefix !== 'string' || !/^[^\s/\\:]+(?::[^\s/\\:]+)*$/.test(this.prefix)) {
      throw new TypeError('[nuxt-server-session] UnstorageSessionStore `prefix` must be a non-empty key such as \'sess\' or \'app:sess\'.')
    }
    this.sweepIntervalMs = (options.sweepInterval ?? DEFAULTS.sweepInterval) * 1000
    this.logger = options.logger ?? consoleLogger
    this.now = options.now ?? Date.now
    this.lastSweep = this.now()
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const raw = await this._raw(key)
    if (raw === null || raw === undefined) return undefined
    const record = decodeSessionRecord(raw)
    if (typeof raw === 'string') this.textOf.set(record, raw)
    return record
  }

  async set(key: string, record: SessionRecord, write: SessionWrite): Promise<boolean> {
    const direct = this._direct()
    if (direct && !write.create) {
      // Read, merge and write in one synchronous step: no request of this process comes between.
      let written: string | undefined
      direct.driver.updateItem(this._key(key).slice(direct.base.length), (raw) => {
        const next = raw === null ? undefined : this._next(raw, record, write)
        if (next !== undefined) written = next
        return next
      })
      if (written === undefined) return false
      this._maybeSweep()
      return true
    }
    let text: string
    if (write.create) text = write.encoded ?? encodeSessionRecord(record)
    else {
      const raw = await this._raw(key)
      const next = raw === null || raw === undefined ? undefined : this._next(raw, record, write)
      if (next === undefined) return false
      text = next
    }
    if (direct) direct.driver.setItem!(this._key(key).slice(direct.base.length), text, {})
    else await this.storage.setItem(this._key(key), text, { ttl: write.ttl, expirationTtl: Math.max(60, write.ttl) })
    if (write.create) this.textOf.set(record, text)
    this._maybeSweep()
    return true
  }

  /**
   * The text to store for an update, given what is stored now: `record` itself when the stored
   * record is still the one the update started from, else `record`'s changes merged into it;
   * `undefined` when it is gone, expired or unreadable.
   */
  private _next(raw: unknown, record: SessionRecord, write: SessionWrite): string | undefined {
    let next: SessionRecord
    if (write.base && raw === this.textOf.get(write.base)) {
      if (!(write.base.expiresAt > this.now())) return undefined
      next = record
    }
    else {
      const current = this._live(raw)
      if (!current) return undefined
      next = _merge(current, record, write)
    }
    const text = next === record ? (write.encoded ?? encodeSessionRecord(record)) : encodeSessionRecord(next)
    if (next === record) this.textOf.set(record, text)
    return text
  }

  async delete(key: string): Promise<void> {
    await this.storage.removeItem(this._key(key))
  }

  /**
   * A user's index is one record, handle to entry, rewritten on each change: two sign-ins of
   * one user at the same instant may lose one entry (its session still works; it is just not
   * listed). RedisSessionStore updates its index atomically.
   */
  async indexAdd(userKey: string, handle: string, entry: SessionIndexEntry, ttl: number): Promise<void> {
    const index = await this.indexList(userKey)
    index[handle] = entry
    await this._writeIndex(userKey, index, ttl)
  }

  async indexList(userKey: string): Promise<Record<string, SessionIndexEntry>> {
    const raw = await this.storage.getItemRaw(this._indexKey(userKey))
    if (raw === null || raw === undefined) return {}
    let value: unknown
    try {
      value = parseJsonValue(typeof raw === 'string' ? raw : new TextDecoder().decode(raw as Uint8Array))
    }
    catch {
      return {}
    }
    return isPlainObject(value) ? parseIndex(Object.entries(value)) : {}
  }

  async indexRemove(userKey: string, handles: readonly string[], ttl: number): Promise<void> {
    if (!handles.length) return
    const index = await this.indexList(userKey)
    for (const handle of handles) Reflect.deleteProperty(index, handle)
    await this._writeIndex(userKey, index, ttl)
  }

  private _indexKey(userKey: string): string {
    return `${this.prefix}:user:${userKey}`
  }

  private async _writeIndex(userKey: string, index: Record<string, SessionIndexEntry>, ttl: number): Promise<void> {
    if (Object.keys(index).length === 0) return this.storage.removeItem(this._indexKey(userKey))
    await this.storage.setItem(this._indexKey(userKey), JSON.stringify(index), { ttl: Math.ceil(ttl), expirationTtl: Math.max(60, Math.ceil(ttl)) })
  }

  /**
   * Removes expired and undecodable records under the prefix; returns how many. Records that
   * expire at this very moment are kept (a request may be touching them).
   */
  async sweep(): Promise<number> {
    const now = this.now()
    this.lastSweep = now
    let removed = 0
    const indexPrefix = `${this.prefix}:user:`
    for (const fullKey of await this.storage.getKeys(this.prefix)) {
      if (fullKey.startsWith(indexPrefix)) {
        removed += await this._sweepIndex(fullKey.slice(indexPrefix.length))
        continue
      }
      let expired: boolean
      try {
        const raw = await this.storage.getItemRaw(fullKey)
        expired = raw !== null && raw !== undefined && decodeSessionRecord(raw).expiresAt < now
      }
      catch (error) {
        if (!(error instanceof SessionRecordError)) throw error
        expired = true
      }
      if (expired) {
        await this.storage.removeItem(fullKey)
        removed++
      }
    }
    return removed
  }

  /** Drops index entries whose session is gone (returns how many); the record goes when none is left. */
  private async _sweepIndex(userKey: string): Promise<number> {
    const index = await this.indexList(userKey)
    const gone: string[] = []
    for (const [handle, entry] of Object.entries(index)) {
      if (!(await this._current(entry.key))) gone.push(handle)
    }
    if (gone.length) await this.indexRemove(userKey, gone, DEFAULTS.maxLifetime)
    return gone.length
  }

  private _key(key: string): string {
    return `${this.prefix}:${key}`
  }

  /** The stored value of a session key, as the driver gives it. */
  private _raw(key: string): unknown {
    const direct = this._direct()
    return direct ? direct.driver.getItem(this._key(key).slice(direct.base.length), {}) : this.storage.getItemRaw(this._key(key))
  }

  /** The record as stored now, or `undefined` when it is gone, expired or unreadable. */
  private async _current(key: string): Promise<SessionRecord | undefined> {
    const raw = await this._raw(key)
    return raw === null || raw === undefined ? undefined : this._live(raw)
  }

  /** A stored value as a record that has not expired, or `undefined`. */
  private _live(raw: unknown): SessionRecord | undefined {
    try {
      const current = decodeSessionRecord(raw)
      return current.expiresAt > this.now() ? current : undefined
    }
    catch (error) {
      if (error instanceof SessionRecordError) return undefined
      throw error
    }
  }

  /**
   * The module's fs driver, when it is what this prefix is mounted on: used directly, without
   * unstorage's key handling, and for atomic updates. Known once a probe has checked that the
   * driver, at the key this store computes, holds what the storage API writes (it would not
   * through a `prefixStorage`, for one); until then, and for any other driver, `undefined`.
   */
  private _direct(): { driver: SessionFsDriver, base: string } | undefined {
    if (this.direct === undefined) {
      this.probing ??= this._probeDirect().then((direct) => {
        this.direct = direct
      })
      return undefined
    }
    return this.direct ?? undefined
  }

  private async _probeDirect(): Promise<{ driver: SessionFsDriver, base: string } | null> {
    try {
      const probe = this._key(`probe-${Math.random().toString(36).slice(2)}`)
      const mount = this.storage.getMount(probe)
      const driver = mount.driver as Partial<SessionFsDriver>
      if (typeof driver.updateItem !== 'function' || typeof driver.getItem !== 'function' || !probe.startsWith(mount.base)) return null
      await this.storage.setItem(probe, 'probe')
      try {
        return driver.getItem(probe.slice(mount.base.length), {}) === 'probe' ? { driver: driver as SessionFsDriver, base: mount.base } : null
      }
      finally {
        await this.storage.removeItem(probe)
      }
    }
    catch {
      return null
    }
  }

  private _maybeSweep(): void {
    if (this.sweepIntervalMs <= 0 || this.sweeping || this.now() - this.lastSweep < this.sweepIntervalMs) return
    if (NATIVE_TTL_DRIVERS.has(this.storage.getMount(this.prefix).driver.name ?? '')) {
      this.lastSweep = this.now()
      return
    }
    this.sweeping = this.sweep()
      .catch((error) => {
        this.logger.error('Sweeping expired sessions failed', error instanceof Error ? error.message : error)
        return 0
      })
      .finally(() => {
        this.sweeping = undefined
      })
  }
}

/** `record` with only its changed and removed keys applied over `current`'s data. */
function _merge(current: SessionRecord, record: SessionRecord, write: SessionWrite): SessionRecord {
  const replaced = new Set([...write.changed, ...write.removed])
  const data = Object.fromEntries([
    ...Object.entries(current.data).filter(([k]) => !replaced.has(k)),
    ...write.changed.map(k => [k, record.data[k]] as const),
  ])
  return { ...record, data }
}
