import type { Storage } from 'unstorage'
import { DEFAULTS } from '../../defaults'
import type { SessionLogger } from '../../types'
import { consoleLogger } from '../core/config'
import { SessionRecordError } from '../core/errors'
import { decodeSessionRecord, encodeSessionRecord, isPlainObject, parseIndex, parseJsonValue } from '../core/store'
import type { SessionIndexEntry, SessionRecord, SessionStore, SessionWrite } from '../core/store'
import type { SessionFsDriver } from '../storage/fs'
import { RedisSessionStore } from './redis'

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
 * Where the records of this store really go, found once by a probe: the mount's own Redis
 * client (unstorage's redis driver), the module's fs driver used directly, or the storage API.
 */
type Backend
  = | { kind: 'redis', store: RedisSessionStore }
    | { kind: 'fs', driver: SessionFsDriver, base: string }
    | { kind: 'storage' }

const STORAGE_BACKEND: Backend = { kind: 'storage' }

/** The part of unstorage's redis driver this store uses: its client and its key base. */
interface RedisDriverLike {
  name?: string
  options?: { base?: string }
  getInstance?: () => unknown
}

/**
 * A session store over any unstorage instance (memory, fs, redis, Cloudflare KV, db0, ...).
 *
 * Every read checks the record's own timestamps, so expiry holds on drivers without native TTL;
 * those are also swept of expired records now and then. Updates re-read the record and merge
 * only the changed keys into it, and never recreate a record that is gone, which narrows, but
 * cannot close, the windows for lost updates and resurrection: unstorage has no atomic
 * read-modify-write.
 *
 * Where the prefix is mounted on unstorage's `redis` driver, the store works on that driver's
 * own client, under its `base`, exactly as `RedisSessionStore` does (one hash per session, Lua
 * scripts): per-key merges, no write to an ended record, an atomic `regenerate()` (`move`), and
 * an atomic devices index. A probe on first use checks that the client sees what the storage
 * writes (a `prefixStorage` in between, say, turns this off).
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
  /** Where records go, once the probe has found it. */
  private backend?: Backend
  private probing?: Promise<Backend>
  /**
   * Present when the records live in Redis (unstorage's redis driver): `regenerate()` then moves
   * a session atomically, and of two concurrent ones exactly one wins.
   */
  move?: SessionStore['move']
  /** With `move`: whether it works between two keys (Redis Cluster: the same slot). */
  sameSlot?: SessionStore['sameSlot']

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
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'redis') return backend.store.get(key)
    const raw = await this._raw(backend, key)
    if (raw === null || raw === undefined) return undefined
    const record = decodeSessionRecord(raw)
    if (typeof raw === 'string') this.textOf.set(record, raw)
    return record
  }

  /** Several records, in the order of `keys`; a missing or corrupt one comes back `undefined`. */
  async getMany(keys: readonly string[]): Promise<(SessionRecord | undefined)[]> {
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'redis') return backend.store.getMany(keys)
    return Promise.all(keys.map(key => this.get(key).catch((error: unknown) => {
      if (error instanceof SessionRecordError) return undefined
      throw error
    })))
  }

  async set(key: string, record: SessionRecord, write: SessionWrite): Promise<boolean> {
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'redis') return backend.store.set(key, record, write)
    const direct = backend.kind === 'fs' ? backend : undefined
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
      const raw = await this._raw(backend, key)
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
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'redis') return backend.store.delete(key)
    await this.storage.removeItem(this._key(key))
  }

  /**
   * A user's index is one record, handle to entry, rewritten on each change: two sign-ins of
   * one user at the same instant may lose one entry (its session still works; it is just not
   * listed). On a Redis mount, as in RedisSessionStore, it is one hash changed atomically.
   */
  async indexAdd(userKey: string, handle: string, entry: SessionIndexEntry, ttl: number): Promise<void> {
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'redis') return backend.store.indexAdd(userKey, handle, entry, ttl)
    const { index } = await this._readIndex(userKey)
    index[handle] = entry
    await this._writeIndex(userKey, index, ttl)
  }

  async indexList(userKey: string): Promise<Record<string, SessionIndexEntry>> {
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'redis') return backend.store.indexList(userKey)
    return (await this._readIndex(userKey)).index
  }

  async indexRemove(userKey: string, handles: readonly string[], ttl: number): Promise<void> {
    if (!handles.length) return
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'redis') return backend.store.indexRemove(userKey, handles, ttl)
    const { index } = await this._readIndex(userKey)
    for (const handle of handles) Reflect.deleteProperty(index, handle)
    await this._writeIndex(userKey, index, ttl)
  }

  private _indexKey(userKey: string): string {
    return `${this.prefix}:user:${userKey}`
  }

  /**
   * A user's index as stored, with the lifetime it was last written with (seconds), which the
   * sweep keeps: the session options' `maxLifetime`, which the store is not told otherwise.
   */
  private async _readIndex(userKey: string): Promise<{ index: Record<string, SessionIndexEntry>, ttl?: number }> {
    const raw = await this.storage.getItemRaw(this._indexKey(userKey))
    if (raw === null || raw === undefined) return { index: {} }
    let value: unknown
    try {
      value = parseJsonValue(typeof raw === 'string' ? raw : new TextDecoder().decode(raw as Uint8Array))
    }
    catch {
      return { index: {} }
    }
    if (!isPlainObject(value)) return { index: {} }
    const ttl = typeof value[INDEX_TTL] === 'number' && value[INDEX_TTL] > 0 ? value[INDEX_TTL] : undefined
    return { index: parseIndex(Object.entries(value)), ...(ttl ? { ttl } : {}) }
  }

  private async _writeIndex(userKey: string, index: Record<string, SessionIndexEntry>, ttl: number): Promise<void> {
    if (Object.keys(index).length === 0) return this.storage.removeItem(this._indexKey(userKey))
    const seconds = Math.ceil(ttl)
    await this.storage.setItem(this._indexKey(userKey), JSON.stringify({ [INDEX_TTL]: seconds, ...index }), { ttl: seconds, expirationTtl: Math.max(60, seconds) })
  }

  /**
   * Removes expired and undecodable records under the prefix; returns how many. Records that
   * expire at this very moment are kept (a request may be touching them).
   */
  async sweep(): Promise<number> {
    const now = this.now()
    this.lastSweep = now
    // Redis expires each session and index key with its session: nothing is left to sweep.
    if ((this.backend ?? await this._probe()).kind === 'redis') return 0
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

  /**
   * Drops index entries whose session is gone (returns how many); the record goes when none is
   * left. What remains keeps the lifetime the sessions' options gave it.
   */
  private async _sweepIndex(userKey: string): Promise<number> {
    const { index, ttl } = await this._readIndex(userKey)
    const backend = this.backend ?? await this._probe()
    const gone: string[] = []
    for (const [handle, entry] of Object.entries(index)) {
      if (!(await this._current(backend, entry.key))) gone.push(handle)
    }
    if (!gone.length) return 0
    for (const handle of gone) Reflect.deleteProperty(index, handle)
    await this._writeIndex(userKey, index, ttl ?? DEFAULTS.maxLifetime)
    return gone.length
  }

  private _key(key: string): string {
    return `${this.prefix}:${key}`
  }

  /** The stored value of a session key, as the driver gives it. */
  private _raw(backend: Backend, key: string): unknown {
    return backend.kind === 'fs' ? backend.driver.getItem(this._key(key).slice(backend.base.length), {}) : this.storage.getItemRaw(this._key(key))
  }

  /** The record as stored now, or `undefined` when it is gone, expired or unreadable. */
  private async _current(backend: Backend, key: string): Promise<SessionRecord | undefined> {
    const raw = await this._raw(backend, key)
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
   * Finds, once, where this store's records go. The mount of the prefix is looked at, then a
   * probe written through the storage API is looked for below it, so that a `prefixStorage` or
   * any other layer that maps keys differently falls back to the storage API:
   * - unstorage's `redis` driver: its own client, through a `RedisSessionStore` under the
   *   driver's `base`, for atomic per-key writes, moves and indexes;
   * - the module's fs driver: used directly, without unstorage's key handling, for atomic
   *   updates within the process;
   * - anything else: the storage API.
   * A probe that fails (the store is down) is not remembered: the operation fails, and the next
   * one probes again, so that records never go to two layouts.
   */
  private _probe(): Promise<Backend> {
    this.probing ??= this._findBackend().then((backend) => {
      this.backend = backend
      if (backend.kind === 'redis') {
        this.move = (from, to, record, write) => backend.store.move(from, to, record, write)
        this.sameSlot = (a, b) => backend.store.sameSlot(a, b)
      }
      return backend
    }, (error: unknown) => {
      this.probing = undefined
      throw error
    })
    return this.probing
  }

  private async _findBackend(): Promise<Backend> {
    const name = `nss-probe-${Math.random().toString(36).slice(2)}`
    const probe = this._key(name)
    const mount = this.storage.getMount(probe)
    if (!probe.startsWith(mount.base)) return STORAGE_BACKEND
    const relative = probe.slice(mount.base.length)
    const driver = mount.driver as Partial<SessionFsDriver> & RedisDriverLike
    const redis = driver.name === 'redis' && typeof driver.getInstance === 'function' ? driver.getInstance() as { get?: (key: string) => Promise<string | null>, hgetall?: unknown } : undefined
    const fs = typeof driver.updateItem === 'function' && typeof driver.getItem === 'function'
    if (!fs && typeof redis?.get !== 'function') return STORAGE_BACKEND
    await this.storage.setItem(probe, 'probe')
    try {
      if (fs) return driver.getItem!(relative, {}) === 'probe' ? { kind: 'fs', driver: driver as SessionFsDriver, base: mount.base } : STORAGE_BACKEND
      // The driver's key is its base joined to the mount's relative key, both normalised by unstorage.
      const base = _joinKeys((driver.options?.base ?? '').replace(/:$/, ''), relative.slice(0, -name.length))
      if (await redis!.get!(_joinKeys(base, name)) !== 'probe') return STORAGE_BACKEND
      return { kind: 'redis', store: new RedisSessionStore(redis as ConstructorParameters<typeof RedisSessionStore>[0], { prefix: base, ttl: this.ttl, now: this.now }) }
    }
    finally {
      await this.storage.removeItem(probe)
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

/** unstorage's key joining (`joinKeys`): each part normalised to `:` separators, empty ones dropped. */
function _joinKeys(...keys: string[]): string {
  return keys.map(key => key.replace(/[:/\\]/g, ':').replace(/^:|:$/g, '')).filter(Boolean).join(':')
}

/** The field of an index record that keeps the lifetime it was written with, in seconds. */
const INDEX_TTL = 'ttl'

/** `record` with only its changed and removed keys applied over `current`'s data. */
function _merge(current: SessionRecord, record: SessionRecord, write: SessionWrite): SessionRecord {
  const replaced = new Set([...write.changed, ...write.removed])
  const data = Object.fromEntries([
    ...Object.entries(current.data).filter(([k]) => !replaced.has(k)),
    ...write.changed.map(k => [k, record.data[k]] as const),
  ])
  return { ...record, data }
}
