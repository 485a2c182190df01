import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { DEFAULTS } from '../../defaults'
import { SessionRecordError } from '../core/errors'
import { parseIndex, parseJsonValue } from '../core/store'
import type { SessionIndexEntry, SessionRecord, SessionStore, SessionWrite } from '../core/store'

/** Options of {@link RedisSessionStore}. */
export interface RedisSessionStoreOptions {
  /**
   * Default idle timeout of the sessions kept here, in seconds, used when the `ttl` option of
   * `useSession` is not given. Keys always expire with their session.
   * @default 86400
   */
  ttl?: number
  /**
   * Key prefix: a session lives in one hash, `<prefix>:{<tag>}<sha-256 of the id>`, where the
   * tag is the hash's first two hex digits (Redis Cluster keeps a key and its regenerated
   * successor in one slot).
   * @default 'sess'
   */
  prefix?: string
  /** ioredis options for the client made from a URL (ignored when a client is given). */
  redisOptions?: RedisOptions
  /** The clock that decides whether a record has ended, in ms. Only for tests. @default Date.now */
  now?: () => number
}

type Client = Redis | Cluster

/** Hash fields of a record: timestamps, then one `d:<key>` field per top-level data key. */
const CREATED = '_c'
const TOUCHED = '_t'
const EXPIRES = '_e'
const USER = '_u'
const DATA = 'd:'

/** Lua: is the hash `k` missing or past its expiresAt (ARGV[6] is the current time in ms)? */
const ENDED = (k: string) => `(function (e) return not e or tonumber(e) <= tonumber(ARGV[6]) end)(redis.call('HGET', ${k}, '${EXPIRES}'))`

/**
 * Lua: applies a write to the hash `key`: timestamps, ARGV[7] field/value pairs from ARGV[8],
 * then the fields to delete, then the expiry (ARGV[2], ms).
 */
const APPLY = `
local n = tonumber(ARGV[7])
local i = 8
redis.call('HSET', key, '${TOUCHED}', ARGV[4], '${EXPIRES}', ARGV[5])
for _ = 1, n do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', key, ARGV[i])
  i = i + 1
end
redis.call('PEXPIRE', key, ARGV[2])
return 1
`

/**
 * Writes a record in one round trip. KEYS[1]: the session hash. ARGV: mode ('create' or
 * 'update'), expiry in ms, createdAt, touchedAt, expiresAt, the current time in ms, the number
 * of data fields to set, then those field/value pairs, then the fields to delete. An update of a
 * hash that is missing or already past its expiresAt writes nothing and returns 0, so an ended
 * session is never brought back.
 */
const SAVE_SCRIPT = `
local key = KEYS[1]
if ARGV[1] == 'update' then
  if ${ENDED('key')} then return 0 end
else
  redis.call('DEL', key)
  redis.call('HSET', key, '${CREATED}', ARGV[3])
end
${APPLY}`

/**
 * Moves a session to a new key in one round trip: KEYS[1] the old hash, KEYS[2] the new one
 * (same slot), ARGV as for SAVE_SCRIPT. Returns 0, changing nothing, when the old hash is gone
 * (destroyed, expired, or moved by a concurrent regenerate: exactly one of those wins).
 */
const MOVE_SCRIPT = `
if ${ENDED('KEYS[1]')} then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
local key = KEYS[2]
${APPLY}`

/**
 * Adds a sign-in to a user's index hash (KEYS[1]): ARGV handle, session key, sign-in time (ms),
 * label ('' for none), index TTL (s). The time is raised to 1 ms past the latest entry's, so
 * that the hash orders sign-ins as they reach Redis.
 */
const INDEX_SCRIPT = `
local at = tonumber(ARGV[3])
for _, json in ipairs(redis.call('HVALS', KEYS[1])) do
  local ok, entry = pcall(cjson.decode, json)
  if ok and type(entry) == 'table' and tonumber(entry.createdAt) and tonumber(entry.createdAt) >= at then
    at = tonumber(entry.createdAt) + 1
  end
end
local entry = { key = ARGV[2], createdAt = at }
if ARGV[4] ~= '' then entry.label = ARGV[4] end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return at
`

/**
 * A session store on Redis through ioredis: single node, Sentinel or Cluster. One round trip
 * per operation (HGETALL to read, a Lua script to write), native expiry that follows the idle
 * and absolute timeouts, per-key writes so that parallel requests changing different keys all
 * keep their change, no resurrection of destroyed sessions, and an atomic `regenerate()`.
 *
 * @example
 * ```ts
 * new RedisSessionStore('redis://127.0.0.1:6379')
 * new RedisSessionStore(new Redis({ sentinels: [{ host, port }], name: 'mymaster' }))
 * new RedisSessionStore(new Cluster([{ host, port }]), { prefix: 'app:sess' })
 * ```
 */
export class RedisSessionStore implements SessionStore {
  readonly ttl: number
  readonly prefix: string
  /** `<prefix>:`, or nothing for an empty prefix. */
  private readonly keyPrefix: string
  private client?: Client
  /** A client this store made, from the moment it exists (before it is ready). */
  private made?: Client
  private connecting?: Promise<Client>
  private closed = false
  private readonly redisOptions?: RedisOptions
  private readonly now: () => number
  private readonly scripts = new Map<string, Promise<string>>()

  /**
   * @param source A `redis://` / `rediss://` URL (the store makes and owns the client), an ioredis
   * client (`Redis`, including Sentinel, or `Cluster`), or a function that makes one on first use.
   */
  constructor(private readonly source: string | Client | (() => Client | Promise<Client>), options: RedisSessionStoreOptions = {}) {
    if (typeof source !== 'string' && typeof source !== 'function' && (!source || typeof (source as Redis).hgetall !== 'function')) {
      throw new TypeError('[nuxt-server-session] RedisSessionStore needs a redis:// URL or an ioredis client (Redis or Cluster).')
    }
    this.ttl = options.ttl ?? DEFAULTS.ttl
    this.prefix = options.prefix ?? DEFAULTS.prefix
    if (typeof this.prefix !== 'string' || !/^[^\s{}]*$/.test(this.prefix)) {
      throw new TypeError('[nuxt-server-session] RedisSessionStore `prefix` must be a string without spaces or braces.')
    }
    this.keyPrefix = this.prefix ? `${this.prefix}:` : ''
    if (typeof source === 'string') this.redisOptions = options.redisOptions
    else if (typeof source !== 'function') this.client = source
    this.now = options.now ?? Date.now
  }

  /** The ioredis client; made from the URL on first use (ioredis is loaded only then). */
  async redis(): Promise<Client> {
    if (this.client) return this.client
    const { source } = this
    this.connecting ??= (typeof source === 'function'
      ? Promise.resolve(source())
      : import('ioredis').then(({ Redis }) => {
          // Once connected, fail fast while disconnected rather than queue: the request gets its
          // 503 at once, and a write it was told failed is never applied later. ioredis
          // reconnects by itself; connection errors surface as the failing commands' errors.
          // Auto-pipelining sends the commands of requests served in the same event-loop turn
          // in one write: fewer system calls under load.
          const client = new Redis(source as string, { enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true, ...this.redisOptions })
          client.on('error', () => {})
          return client
        })
    ).then(client => new Promise<Client>((resolve, reject) => {
      this.made = client
      if (this.closed) {
        client.disconnect()
        return reject(new Error('RedisSessionStore is closed'))
      }
      const ready = () => {
        this.client = client
        resolve(client)
      }
      if (client.status === 'ready') ready()
      else client.once('ready', ready)
    }))
    return this.connecting
  }

  /** The Redis key of a store key. */
  keyOf(key: string): string {
    return `${this.keyPrefix}{${key.slice(0, 2)}}${key.slice(2)}`
  }

  /**
   * Whether `move()` can go from `a` to `b`: always on a single Redis (or Sentinel); on Cluster
   * only between keys in one slot, which their `{tag}` decides.
   */
  sameSlot(a: string, b: string): boolean {
    return !this._cluster() || a.slice(0, 2) === b.slice(0, 2)
  }

  /** Whether the client is (or, not made yet, may be) a Redis Cluster. */
  private _cluster(): boolean {
    const client = this.client ?? this.made ?? (typeof this.source === 'object' ? this.source : undefined)
    if (client) return (client as { isCluster?: boolean }).isCluster === true
    // A URL always names one server; a function may make either.
    return typeof this.source === 'function'
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    let fields: Record<string, string>
    try {
      fields = await (await this.redis()).hgetall(this.keyOf(key))
    }
    catch (error) {
      // Something else sits under the session's key: a corrupt record, not an outage.
      if (String((error as Error)?.message).startsWith('WRONGTYPE')) throw new SessionRecordError()
      throw error
    }
    if (!fields || Object.keys(fields).length === 0) return undefined
    return _decode(fields)
  }

  /**
   * Several records in one round trip (a pipeline; on Cluster, one per node through
   * auto-pipelining), in the order of `keys`; a missing or corrupt record comes back `undefined`.
   */
  async getMany(keys: readonly string[]): Promise<(SessionRecord | undefined)[]> {
    if (keys.length === 0) return []
    const redis = await this.redis()
    let replies: [Error | null, unknown][]
    if ((redis as { isCluster?: boolean }).isCluster) {
      replies = await Promise.all(keys.map(key => redis.hgetall(this.keyOf(key)).then(fields => [null, fields] as [null, unknown], (error: Error) => [error, undefined] as [Error, unknown])))
    }
    else {
      const pipeline = redis.pipeline()
      for (const key of keys) pipeline.hgetall(this.keyOf(key))
      replies = (await pipeline.exec()) ?? []
    }
    return keys.map((_, i) => {
      const [error, fields] = replies[i] ?? [null, undefined]
      if (error) {
        if (String(error.message).startsWith('WRONGTYPE')) return undefined
        throw error
      }
      if (!fields || Object.keys(fields).length === 0) return undefined
      try {
        return _decode(fields as Record<string, string>)
      }
      catch (decodeError) {
        if (decodeError instanceof SessionRecordError) return undefined
        throw decodeError
      }
    })
  }

  async set(key: string, record: SessionRecord, write: SessionWrite): Promise<boolean> {
    const args = _writeArgs(write.create ? 'create' : 'update', record, write, this.now())
    return await this._script('save', SAVE_SCRIPT, [this.keyOf(key)], args) === 1
  }

  /**
   * Moves the record under `from` to `to` (which must be in the same slot, see `sameSlot`) and
   * applies the write there, atomically. `false` when `from` is gone.
   */
  async move(from: string, to: string, record: SessionRecord, write: SessionWrite): Promise<boolean> {
    const args = _writeArgs('update', record, write, this.now())
    return await this._script('move', MOVE_SCRIPT, [this.keyOf(from), this.keyOf(to)], args) === 1
  }

  async delete(key: string): Promise<void> {
    await (await this.redis()).del(this.keyOf(key))
  }

  /** A user's index is one hash, handle to entry, that lives as long as the longest session. */
  private _indexKey(userKey: string): string {
    return `${this.keyPrefix}user:{${userKey.slice(0, 2)}}${userKey.slice(2)}`
  }

  /**
   * A sign-in's entry is stamped, in one script, at least 1 ms after the user's latest entry:
   * concurrent sign-ins, on any instance, then agree on their order, which `maxSessionsPerUser`
   * counts by. An entry moved by `regenerate()` keeps its time.
   */
  async indexAdd(userKey: string, handle: string, entry: SessionIndexEntry, ttl: number, options?: { signIn?: boolean }): Promise<void> {
    const key = this._indexKey(userKey)
    const seconds = Math.max(1, Math.ceil(ttl))
    if (!options?.signIn) {
      await (await this.redis()).multi().hset(key, handle, JSON.stringify(entry)).expire(key, seconds).exec()
      return
    }
    await this._script('index', INDEX_SCRIPT, [key], [handle, entry.key, entry.createdAt, entry.label ?? '', seconds])
  }

  async indexList(userKey: string): Promise<Record<string, SessionIndexEntry>> {
    const fields = await (await this.redis()).hgetall(this._indexKey(userKey))
    return parseIndex(Object.entries(fields ?? {}).map(([handle, json]) => [handle, _safeJson(json)]))
  }

  async indexRemove(userKey: string, handles: readonly string[], _ttl?: number): Promise<void> {
    if (handles.length) await (await this.redis()).hdel(this._indexKey(userKey), ...handles)
  }

  /** Closes a client this store made (from a URL or a function); a client you passed in is yours to close. */
  async close(): Promise<void> {
    if (typeof this.source === 'object') return
    this.closed = true
    const client = this.made
    if (!client) return
    if (client.status === 'ready') await client.quit().catch(() => {})
    else client.disconnect()
  }

  /** EVALSHA, loading the script on NOSCRIPT (a restarted or failed-over Redis has none). */
  private async _script(name: string, lua: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    const redis = await this.redis()
    let sha = this.scripts.get(name)
    if (!sha) {
      sha = _sha1(lua)
      this.scripts.set(name, sha)
    }
    try {
      return await redis.evalsha(await sha, keys.length, ...keys, ...args)
    }
    catch (error) {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error
      return await redis.eval(lua, keys.length, ...keys, ...args)
    }
  }
}

function _writeArgs(mode: 'create' | 'update', record: SessionRecord, write: SessionWrite, now: number): (string | number)[] {
  const set: string[] = []
  for (const k of write.changed) {
    const json = JSON.stringify(record.data[k])
    if (json !== undefined) set.push(DATA + k, json)
  }
  if (record.userId !== undefined) set.push(USER, String(record.userId))
  const removed = write.removed.map(k => DATA + k)
  return [mode, Math.max(1000, write.ttl * 1000), record.createdAt, record.touchedAt, record.expiresAt, now, set.length / 2, ...set, ...removed]
}

/**
 * A record from its hash fields: strict timestamps, and each data field parsed on its own as JSON
 * through the same prototype-safe parser as other stores.
 */
function _decode(fields: Record<string, string>): SessionRecord {
  const time = (value: string | undefined) => {
    if (value === undefined || !/^\d+(?:\.\d+)?$/.test(value)) throw new SessionRecordError()
    return Number(value)
  }
  const entries: [string, unknown][] = []
  for (const [field, value] of Object.entries(fields)) {
    if (field.startsWith(DATA)) entries.push([field.slice(DATA.length), parseJsonValue(value)])
  }
  // The same keys are dropped as at any depth of other stores' records.
  const data = Object.fromEntries(entries.filter(([k, v]) => k !== '__proto__' && !(k === 'constructor' && v && typeof v === 'object' && 'prototype' in v)))
  const userId = fields[USER]
  return { createdAt: time(fields[CREATED]), touchedAt: time(fields[TOUCHED]), expiresAt: time(fields[EXPIRES]), data, ...(userId === undefined ? {} : { userId }) }
}

async function _sha1(text: string): Promise<string> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-1', new TextEncoder().encode(text)))
  return Array.from(digest, b => b.toString(16).padStart(2, '0')).join('')
}

function _safeJson(text: string): unknown {
  try {
    return parseJsonValue(text)
  }
  catch {
    return undefined
  }
}
