import type { Storage } from 'unstorage'
import type { SweptSession } from './rows'
import { DEFAULTS } from '../../defaults'
import type { SessionLogger } from '../../types'
import { consoleLogger } from '../core/config'
import { SessionRecordError } from '../core/errors'
import { decodeSessionRecord, encodeSessionRecord, isPlainObject, liveRecord, nextRecordText, parseIndex, parseJsonValue, rememberRecordText } from '../core/store'
import type { SessionIndexEntry, SessionRecord, SessionStore, SessionWrite } from '../core/store'
import type { SessionSqliteDriver } from '../storage/sqlite'
import { RedisSessionStore } from './redis'
import { SqliteSessionStore } from './sqlite'

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
 * Where the records of this store really go, found once by a probe: a store of the mount's own
 * backend (the Redis client of unstorage's redis driver, the module's SQLite database), the Map
 * of unstorage's memory driver (`below` is what comes before a store key in the Map's keys), or
 * the storage API.
 */
type Backend
  = | { kind: 'native', store: RedisSessionStore | SqliteSessionStore }
    | { kind: 'map', map: Map<string, unknown>, below: string }
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
  /**
   * Told of each session a sweep deletes (its store key and user), where the backend can say:
   * the modules report them as `session:expired` (reason `'sweep'`).
   */
  onSwept?: SweptSession
  private readonly logger: SessionLogger
  private readonly now: () => number
  private lastSweep: number
  private sweeping?: Promise<number>
  /** Where records go, once the probe has found it. */
  private backend?: Backend
  private probing?: Promise<Backend>
  /**
   * Present when the records live in Redis (unstorage's redis driver) or in the module's SQLite
   * database: `regenerate()` then moves a session atomically, and of two concurrent ones exactly
   * one wins.
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
    if (backend.kind === 'native') return backend.store.get(key)
    const raw = backend.kind === 'map' ? backend.map.get(backend.below + key) : await this.storage.getItemRaw(this._key(key))
    if (raw === null || raw === undefined) return undefined
    const record = decodeSessionRecord(raw)
    if (typeof raw === 'string') rememberRecordText(record, raw)
    return record
  }

  /** Several records, in the order of `keys`; a missing or corrupt one comes back `undefined`. */
  async getMany(keys: readonly string[]): Promise<(SessionRecord | undefined)[]> {
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'native') return backend.store.getMany(keys)
    return Promise.all(keys.map(key => this.get(key).catch((error: unknown) => {
      if (error instanceof SessionRecordError) return undefined
      throw error
    })))
  }

  async set(key: string, record: SessionRecord, write: SessionWrite): Promise<boolean> {
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'native') {
      const written = await backend.store.set(key, record, write)
      this._maybeSweep()
      return written
    }
    let text: string
    const direct = backend.kind === 'map' ? backend : undefined
    if (write.create) text = write.encoded ?? encodeSessionRecord(record)
    else {
      const raw = direct ? direct.map.get(direct.below + key) : await this.storage.getItemRaw(this._key(key))
      const next = raw === null || raw === undefined ? undefined : nextRecordText(raw, record, write, this.now())
      if (next === undefined) return false
      text = next
    }
    // The memory driver keeps what it is given and has no expiry: the text goes into its Map as
    // the storage API would put it there, without the key normalisation and the async layers.
    if (direct) direct.map.set(direct.below + key, text)
    else await this.storage.setItem(this._key(key), text, { ttl: write.ttl, expirationTtl: Math.max(60, write.ttl) })
    if (write.create) rememberRecordText(record, text)
    this._maybeSweep()
    return true
  }

  async delete(key: string): Promise<void> {
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'native') return backend.store.delete(key)
    if (backend.kind === 'map') backend.map.delete(backend.below + key)
    else await this.storage.removeItem(this._key(key))
  }

  /**
   * A user's index is one record, handle to entry, rewritten on each change: two sign-ins of
   * one user at the same instant may lose one entry (its session still works; it is just not
   * listed). On a Redis mount, as in RedisSessionStore, it is one hash changed atomically; on the
   * module's SQLite database, the session rows that name the user.
   */
  async indexAdd(userKey: string, handle: string, entry: SessionIndexEntry, ttl: number, options?: { signIn?: boolean }): Promise<void> {
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'native') return backend.store.indexAdd(userKey, handle, entry, ttl, options)
    const { index } = await this._readIndex(userKey)
    index[handle] = entry
    await this._writeIndex(userKey, index, ttl)
  }

  async indexList(userKey: string): Promise<Record<string, SessionIndexEntry>> {
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'native') return backend.store.indexList(userKey)
    return (await this._readIndex(userKey)).index
  }

  async indexRemove(userKey: string, handles: readonly string[], ttl: number): Promise<void> {
    if (!handles.length) return
    const backend = this.backend ?? await this._probe()
    if (backend.kind === 'native') return backend.store.indexRemove(userKey, handles, ttl)
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
   * expire at this very moment are kept (a request may be touching them). On the module's SQLite
   * database, one short statement per batch of rows, with the event loop running between them.
   */
  async sweep(): Promise<number> {
    const now = this.now()
    this.lastSweep = now
    const backend = this.backend ?? await this._probe()
    const swept = this.onSwept
    // Redis expires each session and index key with its session: nothing is left to sweep.
    if (backend.kind === 'native') return backend.store instanceof SqliteSessionStore ? backend.store.sweep(undefined, swept) : 0
    let removed = 0
    const indexPrefix = `${this.prefix}:user:`
    for (const fullKey of await this.storage.getKeys(this.prefix)) {
      if (fullKey.startsWith(indexPrefix)) {
        removed += await this._sweepIndex(fullKey.slice(indexPrefix.length))
        continue
      }
      let expired: boolean
      let raw: unknown
      try {
        raw = await this.storage.getItemRaw(fullKey)
        expired = raw !== null && raw !== undefined && decodeSessionRecord(raw).expiresAt < now
      }
      catch (error) {
        if (!(error instanceof SessionRecordError)) throw error
        expired = true
      }
      if (expired) {
        await this.storage.removeItem(fullKey)
        removed++
        if (swept && fullKey.startsWith(`${this.prefix}:`)) swept(fullKey.slice(this.prefix.length + 1), _userOf(raw))
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
    const gone: string[] = []
    for (const [handle, entry] of Object.entries(index)) {
      const raw = await this.storage.getItemRaw(this._key(entry.key))
      if (raw === null || raw === undefined || !liveRecord(raw, this.now())) gone.push(handle)
    }
    if (!gone.length) return 0
    for (const handle of gone) Reflect.deleteProperty(index, handle)
    await this._writeIndex(userKey, index, ttl ?? DEFAULTS.maxLifetime)
    return gone.length
  }

  private _key(key: string): string {
    return `${this.prefix}:${key}`
  }

  /**
   * Finds, once, where this store's records go. The mount of the prefix is looked at, then a
   * probe written through the storage API is looked for below it, so that a `prefixStorage` or
   * any other layer that maps keys differently falls back to the storage API:
   * - unstorage's `redis` driver: its own client, through a `RedisSessionStore` under the
   *   driver's `base`, for atomic per-key writes, moves and indexes;
   * - the module's SQLite driver: its database, through a `SqliteSessionStore`, for the same in
   *   one transaction per operation;
   * - unstorage's `memory` driver: its Map, read and written directly for the records (indexes
   *   and the sweep keep the storage API, on the same Map). The storage's `watch()` listeners
   *   are not told of these writes;
   * - anything else: the storage API.
   * A probe that fails (the store is down) is not remembered: the operation fails, and the next
   * one probes again, so that records never go to two layouts.
   */
  private _probe(): Promise<Backend> {
    this.probing ??= this._findBackend().then((backend) => {
      this.backend = backend
      if (backend.kind === 'native') {
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
    const below = relative.slice(0, -name.length)
    const driver = mount.driver as Partial<SessionSqliteDriver> & RedisDriverLike
    const sqlite = driver.name === 'nuxt-server-session-sqlite' && driver.sessions ? driver.sessions : undefined
    const instance = !sqlite && typeof driver.getInstance === 'function' ? driver.getInstance() : undefined
    const map = driver.name === 'memory' && instance instanceof Map ? instance as Map<string, unknown> : undefined
    const redis = driver.name === 'redis' ? instance as { get?: (key: string) => Promise<string | null> } | undefined : undefined
    if (!sqlite && !map && typeof redis?.get !== 'function') return STORAGE_BACKEND
    await this.storage.setItem(probe, 'probe')
    try {
      if (map) return map.get(relative) === 'probe' ? { kind: 'map', map, below } : STORAGE_BACKEND
      if (sqlite) {
        if (sqlite.get(relative) !== 'probe') return STORAGE_BACKEND
        return { kind: 'native', store: new SqliteSessionStore(sqlite, { prefix: _joinKeys(below), ttl: this.ttl, now: this.now }) }
      }
      // The driver's key is its base joined to the mount's relative key, both normalised by unstorage.
      const base = _joinKeys((driver.options?.base ?? '').replace(/:$/, ''), below)
      if (await redis!.get!(_joinKeys(base, name)) !== 'probe') return STORAGE_BACKEND
      return { kind: 'native', store: new RedisSessionStore(redis as ConstructorParameters<typeof RedisSessionStore>[0], { prefix: base, ttl: this.ttl, now: this.now }) }
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

/** The user of a stored record, if it decodes and has one (for the sweep's lifecycle report). */
function _userOf(raw: unknown): string | undefined {
  try {
    return decodeSessionRecord(raw).userId
  }
  catch {
    return undefined
  }
}
