/**
 * RedisSessionStore on a real Redis: the conformance suite (on an ioredis client and from a
 * redis:// URL), its own storage layout (one HASH per session), decoding of corrupt or hostile
 * hash fields, concurrency over real HTTP, native expiry, and, on a private redis-server of our
 * own, the NOSCRIPT fallback and the number of Redis commands per request.
 *
 * The test run's Redis (redisAddress(): the global setup's private redis-server, or the one that
 * NSS_TEST_REDIS_URL names, which may be shared) is only ever touched under this file's random
 * prefix, and only those keys are deleted afterwards. Anything destructive runs on a private
 * redis-server of its own.
 */
import { randomBytes } from 'node:crypto'
import { Cluster, Redis } from 'ioredis'
import { createStorage } from 'unstorage'
import type { Storage } from 'unstorage'
import redisDriver from 'unstorage/drivers/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisSessionStore, SessionRecordError, UnstorageSessionStore } from 'nuxt-server-session/h3'
import type { SessionRecord, SessionWrite } from 'nuxt-server-session/h3'
import { recordingLogger, sessionApp, testClock } from '../support/app'
import { Client, serve } from '../support/server'
import type { TestServer } from '../support/server'
import { commandCalls, deleteKeys, freePort, recordCommands, redisBinaries, scanKeys, startRedisServer } from '../support/redis'
import type { RedisProcess } from '../support/redis'
import { destroyRacingSave, gatedSessionApp, parallelWrites, racingRegenerates, randomToken, redisBackend, redisKeyOfId } from '../support/store-scenarios'
import type { GatedApp } from '../support/store-scenarios'
import { redisAddress } from '../support/services'
import { describeStoreConformance, fakeSessionId, sha256Hex } from './conformance'

const REDIS = { host: redisAddress().host, port: redisAddress().port }
/** Every key this file writes on the shared Redis starts with this; only those are deleted. */
const BASE = `nss-test-redis-${randomBytes(6).toString('hex')}`
const HOUR = 3_600_000

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

// Our own client on the shared Redis: to look below the store (hash fields, TTLs) and clean up.
const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000 })

beforeAll(async () => {
  await redis.connect()
  expect(await redis.ping()).toBe('PONG')
})

afterAll(async () => {
  await deleteKeys(redis, `${BASE}*`)
  expect(await scanKeys(redis, `${BASE}*`)).toStrictEqual([])
  await redis.quit()
})

function liveRecord(data: Record<string, unknown>, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now()
  return { createdAt: now - 60_000, touchedAt: now, expiresAt: now + HOUR, data, ...overrides }
}

function createWrite(record: SessionRecord, ttl = 3600): SessionWrite {
  return { create: true, changed: Object.keys(record.data), removed: [], ttl }
}

function updateWrite(changed: string[], removed: string[] = [], ttl = 3600): SessionWrite {
  return { create: false, changed, removed, ttl }
}

/** A fresh session id, its store key, and its Redis key in `store`. */
async function newKey(store: RedisSessionStore) {
  const id = fakeSessionId()
  const key = await sha256Hex(id)
  return { id, key, redisKey: store.keyOf(key) }
}

describe('[nuxt-server-session] RedisSessionStore conformance', () => {
  describeStoreConformance('RedisSessionStore on an ioredis client (real Redis)', async () => ({
    // No `raw`: the suite's raw access stores one string per record, a RedisSessionStore
    // record is a HASH. The raw-based checks are done below, on the hash.
    store: new RedisSessionStore(redis, { prefix: `${BASE}:conformance` }),
  }), { raw: false })

  describeStoreConformance('RedisSessionStore from a redis:// URL (real Redis, store-owned client)', async () => {
    const store = new RedisSessionStore(`redis://${REDIS.host}:${REDIS.port}`, { prefix: `${BASE}:conformance-url` })
    return { store, cleanup: () => store.close() }
  }, { raw: false })
})

describe('[nuxt-server-session] RedisSessionStore: storage layout (one HASH per session)', () => {
  const store = new RedisSessionStore(redis, { prefix: `${BASE}:layout` })

  it('the Redis key is <prefix>:{<2 hex>}<62 hex>, the tag is the first two hex digits of sha-256(id), and no key holds the raw id', async () => {
    for (let i = 0; i < 20; i++) {
      const { id, key, redisKey } = await newKey(store)
      const record = liveRecord({ a: 1 })
      expect(await store.set(key, record, createWrite(record))).toBe(true)
      const keys = await scanKeys(redis, `${BASE}:layout:*${key.slice(2)}`)
      expect(keys).toStrictEqual([redisKey])
      const match = /^(.+):\{([0-9a-f]{2})\}([0-9a-f]{62})$/.exec(redisKey)
      expect(match).not.toBeNull()
      expect(match![1]).toBe(`${BASE}:layout`)
      expect(match![2]).toBe((await sha256Hex(id)).slice(0, 2))
      expect(match![2]! + match![3]!).toBe(key)
      expect(redisKey).not.toContain(id)
    }
    for (const k of await scanKeys(redis, `${BASE}:layout:*`)) expect(k).toMatch(/:\{[0-9a-f]{2}\}[0-9a-f]{62}$/)
  })

  it('a session is one HASH: _c, _t, _e, and one d:<key> field per top-level data key holding its JSON; nothing in it holds the id', async () => {
    const { id, key, redisKey } = await newKey(store)
    const record: SessionRecord = { createdAt: 1_700_000_000_000, touchedAt: 1_700_000_000_001.5, expiresAt: Date.now() + HOUR, data: { 'user': { name: 'Zoë', roles: ['a'] }, 'n': 1, '': 'empty key', 'colon:key': null } }
    await store.set(key, record, createWrite(record))
    expect(await redis.type(redisKey)).toBe('hash')
    const fields = await redis.hgetall(redisKey)
    expect(fields).toStrictEqual({
      '_c': '1700000000000',
      '_t': '1700000000001.5',
      '_e': String(record.expiresAt),
      'd:user': '{"name":"Zoë","roles":["a"]}',
      'd:n': '1',
      'd:': '"empty key"',
      'd:colon:key': 'null',
    })
    expect(JSON.stringify(fields)).not.toContain(id)
  })

  it('an update writes only its changed and removed fields (HSET/HDEL), leaving other fields as stored', async () => {
    const { key, redisKey } = await newKey(store)
    const record = liveRecord({ a: 1, b: 1, c: 1 })
    await store.set(key, record, createWrite(record))
    // Someone else changed b meanwhile; this request (which loaded b=1) changes a, removes c.
    await redis.hset(redisKey, 'd:b', '"other"')
    const next: SessionRecord = { ...record, touchedAt: record.touchedAt + 1, data: { a: 2, b: 1 } }
    expect(await store.set(key, next, updateWrite(['a'], ['c']))).toBe(true)
    const fields = await redis.hgetall(redisKey)
    expect(fields).toMatchObject({ 'd:a': '2', 'd:b': '"other"', '_t': String(next.touchedAt) })
    expect(fields).not.toHaveProperty('d:c')
  })

  it('every top-level data key survives a round trip (in any order: a hash does not keep it), also once the hash is no longer a listpack (a value over 64 bytes)', async () => {
    const keys = ['zeta', 'alpha', 'mu', 'beta', 'omega', 'gamma', 'psi', 'delta', 'chi', 'epsilon', 'phi', 'eta', 'tau', 'theta', 'sigma', 'iota']
    for (const long of [false, true]) {
      const { key, redisKey } = await newKey(store)
      const data = Object.fromEntries(keys.map((k, i) => [k, long && i === 1 ? 'x'.repeat(100) : i]))
      const record = liveRecord(data)
      await store.set(key, record, createWrite(record))
      expect(await redis.object('ENCODING', redisKey)).toBe(long ? 'hashtable' : 'listpack')
      expect(Object.keys((await store.get(key))!.data).sort(), `encoding ${long ? 'hashtable' : 'listpack'}`).toStrictEqual([...keys].sort())
    }
  })

  it('a data key whose value is undefined is not written (JSON has no undefined)', async () => {
    const { key, redisKey } = await newKey(store)
    const record = liveRecord({ a: 1, gone: undefined })
    await store.set(key, record, createWrite(record))
    expect(Object.keys(await redis.hgetall(redisKey)).sort()).toStrictEqual(['_c', '_e', '_t', 'd:a'])
    expect((await store.get(key))!.data).toStrictEqual({ a: 1 })
  })

  it('every write sets the key\'s PTTL to the write\'s ttl (seconds), and at least one second', async () => {
    const { key, redisKey } = await newKey(store)
    const record = liveRecord({ a: 1 })
    await store.set(key, record, createWrite(record, 3600))
    let pttl = await redis.pttl(redisKey)
    expect(pttl).toBeGreaterThan(3_590_000)
    expect(pttl).toBeLessThanOrEqual(3_600_000)
    expect(await store.set(key, record, updateWrite([], [], 2))).toBe(true)
    pttl = await redis.pttl(redisKey)
    expect(pttl).toBeGreaterThan(1000)
    expect(pttl).toBeLessThanOrEqual(2000)
    expect(await store.set(key, record, updateWrite([], [], 0))).toBe(true)
    pttl = await redis.pttl(redisKey)
    expect(pttl).toBeGreaterThan(0)
    expect(pttl).toBeLessThanOrEqual(1000)
  })

  it('the constructor rejects a prefix that has spaces or braces (which would break the Cluster tag), and a source that is no client', () => {
    for (const prefix of ['a b', 'a{b', 'a}b', '{x}', 'tab\t']) {
      expect(() => new RedisSessionStore(redis, { prefix })).toThrow(TypeError)
    }
    // An empty prefix puts the keys at the root (a mount without a base, see UnstorageSessionStore).
    expect(new RedisSessionStore(redis, { prefix: '' }).keyOf('ab' + '0'.repeat(62))).toBe(`{ab}${'0'.repeat(62)}`)
    for (const source of [undefined, null, {}, 42, { get: () => {} }]) {
      expect(() => new RedisSessionStore(source as any)).toThrow(TypeError)
    }
    const store = new RedisSessionStore(redis)
    expect(store.prefix).toBe('sess')
    expect(store.ttl).toBe(86_400)
    expect(new RedisSessionStore(redis, { prefix: 'app:sess', ttl: 60 })).toMatchObject({ prefix: 'app:sess', ttl: 60 })
  })
})

describe('[nuxt-server-session] RedisSessionStore: move (atomic regenerate) and sameSlot', () => {
  const store = new RedisSessionStore(redis, { prefix: `${BASE}:move` })

  /** A second key in the same slot as `key` (same first two hex digits). */
  async function sameSlotKey(key: string): Promise<{ id: string, key: string }> {
    for (let i = 0; i < 20_000; i++) {
      const id = fakeSessionId()
      const other = await sha256Hex(id)
      if (store.sameSlot(key, other)) return { id, key: other }
    }
    throw new Error('no same-slot key found in 20 000 tries')
  }

  it('sameSlot: on a single Redis any two keys (RENAME works between any keys); on a Cluster client only keys that share their tag (first two hex digits)', () => {
    expect(store.sameSlot('ab' + '0'.repeat(62), 'ab' + 'f'.repeat(62))).toBe(true)
    expect(store.sameSlot('ab' + '0'.repeat(62), 'ac' + '0'.repeat(62))).toBe(true)
    expect(new RedisSessionStore(`redis://${REDIS.host}:${REDIS.port}`).sameSlot('0b' + '0'.repeat(62), 'ab' + '0'.repeat(62))).toBe(true)
    // A Cluster client (only its kind is looked at; it never connects here).
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true })
    const onCluster = new RedisSessionStore(cluster)
    expect(onCluster.sameSlot('ab' + '0'.repeat(62), 'ab' + 'f'.repeat(62))).toBe(true)
    expect(onCluster.sameSlot('ab' + '0'.repeat(62), 'ac' + '0'.repeat(62))).toBe(false)
    expect(onCluster.sameSlot('0b' + '0'.repeat(62), 'ab' + '0'.repeat(62))).toBe(false)
    cluster.disconnect()
    // A function may make either kind: the tag is kept until the client is known.
    expect(new RedisSessionStore(() => redis).sameSlot('0b' + '0'.repeat(62), 'ab' + '0'.repeat(62))).toBe(false)
  })

  it('move renames the hash, keeps createdAt and unchanged fields, applies changed/removed and timestamps, sets the PTTL; the old key is gone', async () => {
    const from = await newKey(store)
    const to = await sameSlotKey(from.key)
    const record = liveRecord({ a: 1, b: 1, c: 1 })
    await store.set(from.key, record, createWrite(record))
    const next: SessionRecord = { ...record, touchedAt: record.touchedAt + 10, expiresAt: record.expiresAt + 10, data: { a: 2, b: 1, d: 'new' } }
    expect(await store.move(from.key, to.key, next, updateWrite(['a', 'd'], ['c'], 120))).toBe(true)
    expect(await redis.exists(from.redisKey)).toBe(0)
    expect(await store.get(from.key)).toBeUndefined()
    expect(await store.get(to.key)).toStrictEqual(next)
    const pttl = await redis.pttl(store.keyOf(to.key))
    expect(pttl).toBeGreaterThan(115_000)
    expect(pttl).toBeLessThanOrEqual(120_000)
  })

  it('move from a key that is gone returns false and creates nothing', async () => {
    const from = await newKey(store)
    const to = await sameSlotKey(from.key)
    const record = liveRecord({ a: 1 })
    expect(await store.move(from.key, to.key, record, updateWrite(['a']))).toBe(false)
    expect(await redis.exists(store.keyOf(to.key))).toBe(0)
  })

  it('of two moves of one key, exactly one succeeds', async () => {
    const from = await newKey(store)
    const record = liveRecord({ a: 1 })
    await store.set(from.key, record, createWrite(record))
    const targets = [await sameSlotKey(from.key), await sameSlotKey(from.key)]
    const results = await Promise.all(targets.map(t => store.move(from.key, t.key, record, updateWrite([]))))
    expect(results.sort()).toStrictEqual([false, true])
    const exists = await Promise.all(targets.map(t => redis.exists(store.keyOf(t.key))))
    expect(exists.sort()).toStrictEqual([0, 1])
  })
})

describe('[nuxt-server-session] RedisSessionStore: corrupt and hostile hash fields', () => {
  const store = new RedisSessionStore(redis, { prefix: `${BASE}:corrupt` })

  /** A valid session written through the store, then one field overwritten (or deleted, for null) below it. */
  async function corrupted(field: string, value: string | null): Promise<string> {
    const { key, redisKey } = await newKey(store)
    const record = liveRecord({ a: 1, b: 'x' })
    await store.set(key, record, createWrite(record))
    if (value === null) await redis.hdel(redisKey, field)
    else await redis.hset(redisKey, field, value)
    return key
  }

  const CORRUPT: [string, string, string | null][] = [
    ['_c (createdAt) is garbage', '_c', 'garbage'],
    ['_c (createdAt) is missing', '_c', null],
    ['_t (touchedAt) is missing', '_t', null],
    ['_e (expiresAt) is missing', '_e', null],
    ['_c is NaN', '_c', 'NaN'],
    ['_t is negative', '_t', '-1'],
    ['_e overflows (1e999)', '_e', '1e999'],
    ['_e is a JSON string', '_e', '"99999999999999"'],
    ['_c is an empty string', '_c', ''],
    ['_t is blank', '_t', '  '],
    ['d:a is garbage', 'd:a', 'garbage'],
    ['d:a is an empty string', 'd:a', ''],
    ['d:a is truncated JSON', 'd:a', '{"x":'],
    ['d:a is an unterminated string', 'd:a', '"abc'],
    ['d:a holds two JSON values ("1,\\"b\\":2")', 'd:a', '1,"b":2'],
    ['d:a closes the data object and overrides expiresAt and data', 'd:a', '1},"expiresAt":99999999999999,"data":{"evil":true'],
  ]

  it.for(CORRUPT)('get throws SessionRecordError when %s', async ([, field, value]) => {
    const key = await corrupted(field, value)
    const result = await store.get(key).then(record => ({ decodedAs: record }), (error: unknown) => error)
    expect(result).toBeInstanceOf(SessionRecordError)
    expect((result as SessionRecordError).code).toBe('ERR_SESSION_RECORD_CORRUPT')
  })

  it('get throws SessionRecordError for a hash with no fields of ours (only unknown fields)', async () => {
    const { key, redisKey } = await newKey(store)
    await redis.hset(redisKey, 'foo', 'bar')
    await redis.pexpire(redisKey, 60_000)
    await expect(store.get(key)).rejects.toBeInstanceOf(SessionRecordError)
  })

  it('get throws SessionRecordError (not a Redis WRONGTYPE error, which the core turns into a 503) for a key of another type', async () => {
    const { key, redisKey } = await newKey(store)
    await redis.set(redisKey, '{"v":1,"createdAt":1,"touchedAt":1,"expiresAt":99999999999999,"data":{}}', 'PX', 60_000)
    const error = await store.get(key).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(SessionRecordError)
  })

  it('over HTTP, a corrupt session is treated as no session: 200, a new anonymous session, a warning logged without the key', async () => {
    const logger = recordingLogger()
    const server = await serve(sessionApp({ store, logger }).app)
    try {
      const client = new Client(server.url)
      const { id } = await client.json('/set/a/1')
      const redisKey = await redisKeyOfId(store, id)
      await redis.hset(redisKey, '_c', 'garbage')
      const res = await client.fetch('/read')
      expect(res.status).toBe(200)
      const body = await res.json()
      expect(body.isNew).toBe(true)
      expect(body.id).not.toBe(id)
      expect(logger.lines.some(l => l.includes('corrupt session record ignored'))).toBe(true)
      expect(logger.lines.join('\n')).not.toContain(id)
    }
    finally {
      await server.close()
    }
  })

  it('over HTTP, a key of another type under a session\'s key is treated like a corrupt session (200, anonymous), not as a store outage (503)', async () => {
    const server = await serve(sessionApp({ store, logger: recordingLogger() }).app)
    try {
      const client = new Client(server.url)
      const { id } = await client.json('/set/a/1')
      const redisKey = await redisKeyOfId(store, id)
      await redis.del(redisKey)
      await redis.set(redisKey, 'not a hash', 'PX', 60_000)
      const res = await client.fetch('/read')
      expect(res.status).toBe(200)
      expect((await res.json()).isNew).toBe(true)
    }
    finally {
      await server.close()
    }
  })

  function expectNoPollution(): void {
    for (const probe of [{}, [], Object.create(null) as object]) {
      expect((probe as Record<string, unknown>).polluted).toBeUndefined()
    }
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false)
  }

  it('a d:__proto__ field and a d:constructor field holding a prototype are dropped; no prototype changes', async () => {
    const key = await corrupted('d:__proto__', '{"polluted":"yes"}')
    await redis.hset(store.keyOf(key), 'd:constructor', '{"prototype":{"polluted":"yes"}}')
    const { data } = (await store.get(key))!
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype)
    expect(Object.hasOwn(data, '__proto__')).toBe(false)
    expect(Object.hasOwn(data, 'constructor')).toBe(false)
    expect(data).toStrictEqual({ a: 1, b: 'x' })
    expectNoPollution()
  })

  it('nested __proto__ / constructor.prototype keys inside a field\'s JSON, also spelt with \\u escapes, are dropped', async () => {
    const key = await corrupted('d:nested', String.raw`{"__proto__":{"polluted":"yes"},"deep":{"constructor":{"prototype":{"polluted":"yes"}},"keep":true},"\u005f\u005fproto\u005f\u005f":{"polluted":"yes"},"list":[{"__proto__":{"polluted":"yes"},"n":1}]}`)
    const { data } = (await store.get(key))!
    expect(data).toStrictEqual({ a: 1, b: 'x', nested: { deep: { keep: true }, list: [{ n: 1 }] } })
    const nested = data.nested as Record<string, any>
    expect(Object.getPrototypeOf(nested)).toBe(Object.prototype)
    expect(Object.hasOwn(nested, '__proto__')).toBe(false)
    expect(Object.hasOwn(nested.deep, 'constructor')).toBe(false)
    expectNoPollution()
  })

  it('a harmless d:constructor field (a string) is kept as data', async () => {
    const key = await corrupted('d:constructor', '"text"')
    const { data } = (await store.get(key))!
    expect(JSON.stringify(data)).toBe('{"a":1,"b":"x","constructor":"text"}')
    expectNoPollution()
  })

  it('session data with a __proto__ key written through the store is stored as a plain field and never comes back as a prototype', async () => {
    const { key, redisKey } = await newKey(store)
    const data = JSON.parse('{"a":1,"__proto__":{"polluted":"yes"}}') as Record<string, unknown>
    const record = liveRecord(data)
    await store.set(key, record, createWrite(record))
    expect(await redis.hget(redisKey, 'd:__proto__')).toBe('{"polluted":"yes"}')
    const got = (await store.get(key))!
    expect(got.data).toStrictEqual({ a: 1 })
    expect(Object.hasOwn(got.data, '__proto__')).toBe(false)
    expectNoPollution()
  })
})

describe('[nuxt-server-session] RedisSessionStore from a redis:// URL: client lifecycle', () => {
  /** Whether a connection named `name` is open on the shared Redis. */
  async function connected(name: string): Promise<boolean> {
    return (await redis.client('LIST') as string).split('\n').some(line => line.includes(` name=${name} `))
  }

  async function until(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      if (await check()) return true
      await sleep(50)
    }
    return false
  }

  it('connects on first use, not in the constructor; close() ends the connection it made', async () => {
    const name = `nss-${randomToken()}`
    const store = new RedisSessionStore(`redis://${REDIS.host}:${REDIS.port}`, { prefix: `${BASE}:url`, redisOptions: { connectionName: name } })
    await sleep(200)
    expect(await connected(name)).toBe(false)
    await expect(store.get(await sha256Hex(fakeSessionId()))).resolves.toBeUndefined()
    expect(await connected(name)).toBe(true)
    await store.close()
    expect(await until(async () => !(await connected(name)))).toBe(true)
  })

  it('a function source is called once, on first use (also by parallel first calls); close() ends the client it made', async () => {
    const name = `nss-${randomToken()}`
    let calls = 0
    const store = new RedisSessionStore(() => {
      calls++
      return new Redis({ ...REDIS, connectionName: name, maxRetriesPerRequest: 1 })
    }, { prefix: `${BASE}:url` })
    expect(calls).toBe(0)
    const keys = await Promise.all([fakeSessionId(), fakeSessionId(), fakeSessionId()].map(sha256Hex))
    await expect(Promise.all(keys.map(k => store.get(k)))).resolves.toStrictEqual([undefined, undefined, undefined])
    expect(calls).toBe(1)
    expect(await connected(name)).toBe(true)
    await store.close()
    expect(await until(async () => !(await connected(name)))).toBe(true)
  })

  it('close() does not close a client that was passed in', async () => {
    const store = new RedisSessionStore(redis, { prefix: `${BASE}:url` })
    await store.close()
    expect(await redis.ping()).toBe('PONG')
  })

  it('close() called while the first connection is still being made leaves no connection open', async () => {
    const name = `nss-${randomToken()}`
    const store = new RedisSessionStore(`redis://${REDIS.host}:${REDIS.port}`, { prefix: `${BASE}:url`, redisOptions: { connectionName: name } })
    const first = store.get(await sha256Hex(fakeSessionId())).catch((error: unknown) => error)
    await store.close()
    await Promise.race([first, sleep(2000)])
    await sleep(500)
    const open = await connected(name)
    if (open) {
      // Do not leak it past this test: close the client the store made after close() returned.
      await (await store.redis()).quit()
    }
    expect(open).toBe(false)
  })
})

describe('[nuxt-server-session] RedisSessionStore over HTTP: concurrency', () => {
  const store = new RedisSessionStore(redis, { prefix: `${BASE}:http` })
  let gated: GatedApp
  let server: TestServer
  let storage: Storage
  let generic: TestServer

  beforeAll(async () => {
    gated = gatedSessionApp(store)
    server = await serve(gated.app)
    storage = createStorage({ driver: redisDriver({ ...REDIS, base: `${BASE}:unstorage` }) })
    generic = await serve(sessionApp({ store: new UnstorageSessionStore(storage, { prefix: 'sess' }) }).app)
  })
  afterAll(async () => {
    await server?.close()
    await generic?.close()
    await storage?.dispose()
  })

  it('50 parallel requests with one session, each setting its own key: RedisSessionStore keeps all 50 (UnstorageSessionStore over redis for comparison)', async () => {
    const kept = await parallelWrites(server.url, 50)
    const genericKept = await parallelWrites(generic.url, 50)
    console.log(`[figure] 50 parallel writes: RedisSessionStore kept ${kept}/50, UnstorageSessionStore kept ${genericKept}/50`)
    expect(kept).toBe(50)
    expect(genericKept).toBeGreaterThanOrEqual(1)
    expect(genericKept).toBeLessThanOrEqual(50)
  })

  it('destroy racing a slow automatic save: the save answers 409, the session stays destroyed, the old cookie is anonymous', async () => {
    await destroyRacingSave(server.url, gated, redisBackend(redis, store), 'auto')
  })

  it('destroy racing a slow explicit save(): save() throws SessionGoneError (409), the session stays destroyed, the old cookie is anonymous', async () => {
    await destroyRacingSave(server.url, gated, redisBackend(redis, store), 'explicit')
  })

  it('two concurrent regenerates of one session (5 rounds): exactly one wins, the other gets 409, the old id is dead, exactly one hash holds the data', async () => {
    const sameTag: boolean[] = []
    for (let round = 0; round < 5; round++) {
      const { oldKey, newKey } = await racingRegenerates(server.url, gated, redisBackend(redis, store))
      sameTag.push(/\{([0-9a-f]{2})\}/.exec(newKey)![1] === /\{([0-9a-f]{2})\}/.exec(oldKey)![1])
    }
    // On a single Redis the successor's id is drawn once, not searched for in the old key's tag
    // (the Cluster test checks the slot): 5 tags all equal by chance would be 1 in 256^5.
    expect(sameTag.every(Boolean)).toBe(false)
  })

  it('every session key written over HTTP has an expiry (PTTL > 0, never -1)', async () => {
    const keys = await scanKeys(redis, `${BASE}:http:*`)
    expect(keys.length).toBeGreaterThan(0)
    for (const key of keys) {
      const pttl = await redis.pttl(key)
      // -2: it expired between SCAN and PTTL; -1 (no expiry) must never happen.
      if (pttl !== -2) expect(pttl).toBeGreaterThan(0)
    }
  })
})

describe('[nuxt-server-session] RedisSessionStore over HTTP: native expiry follows the idle and absolute timeouts', () => {
  const store = new RedisSessionStore(redis, { prefix: `${BASE}:ttl` })

  async function withServer<T>(options: Parameters<typeof sessionApp>[0], run: (client: Client) => Promise<T>): Promise<T> {
    const server = await serve(sessionApp({ ...options, store }).app)
    try {
      return await run(new Client(server.url))
    }
    finally {
      await server.close()
    }
  }

  async function pttlOf(id: string): Promise<number> {
    return redis.pttl(await redisKeyOfId(store, id))
  }

  it('ttl 60: the key\'s PTTL is in (55 000, 60 000]', async () => {
    await withServer({ ttl: 60 }, async (client) => {
      const { id } = await client.json('/set/a/1')
      const pttl = await pttlOf(id)
      expect(pttl).toBeGreaterThan(55_000)
      expect(pttl).toBeLessThanOrEqual(60_000)
    })
  })

  it('the store\'s own ttl is the default idle timeout: ttl 45 on the store gives a PTTL in (40 000, 45 000]', async () => {
    const own = new RedisSessionStore(redis, { prefix: `${BASE}:ttl`, ttl: 45 })
    const server = await serve(sessionApp({ store: own }).app)
    try {
      const { id } = await new Client(server.url).json('/set/a/1')
      const pttl = await pttlOf(id)
      expect(pttl).toBeGreaterThan(40_000)
      expect(pttl).toBeLessThanOrEqual(45_000)
    }
    finally {
      await server.close()
    }
  })

  it('maxLifetime 30 with ttl 60: the PTTL never exceeds the absolute lifetime (≤ 30 000)', async () => {
    await withServer({ ttl: 60, maxLifetime: 30 }, async (client) => {
      const { id } = await client.json('/set/a/1')
      const pttl = await pttlOf(id)
      expect(pttl).toBeGreaterThan(25_000)
      expect(pttl).toBeLessThanOrEqual(30_000)
    })
  })

  it('on a clock: a touch resets the PTTL to the idle timeout, capped by what is left of the absolute lifetime; past it, the key is deleted', async () => {
    const clock = testClock()
    await withServer({ ttl: 60, maxLifetime: 120, now: () => clock.now }, async (client) => {
      const { id } = await client.json('/set/a/1')
      expect(await pttlOf(id)).toBeGreaterThan(55_000)
      // 30 s later (past the touch interval of 6 s): a read touches, the idle timeout restarts.
      clock.tick(30)
      await redis.pexpire(await redisKeyOfId(store, id), 10_000)
      expect((await client.json('/read')).isNew).toBe(false)
      let pttl = await pttlOf(id)
      expect(pttl).toBeGreaterThan(55_000)
      expect(pttl).toBeLessThanOrEqual(60_000)
      // At 80 s: the idle deadline (140 s) is past the absolute one (120 s): 40 s are left.
      clock.tick(50)
      expect((await client.json('/read')).isNew).toBe(false)
      pttl = await pttlOf(id)
      expect(pttl).toBeGreaterThan(35_000)
      expect(pttl).toBeLessThanOrEqual(40_000)
      // An unchanged read within the touch interval writes nothing: the PTTL only runs down.
      clock.tick(1)
      await sleep(50)
      expect((await client.json('/read')).isNew).toBe(false)
      expect(await pttlOf(id)).toBeLessThan(pttl)
      // Past the absolute lifetime: anonymous, and the key is gone.
      clock.tick(40)
      const after = await client.json('/read')
      expect(after.isNew).toBe(true)
      expect(after.id).not.toBe(id)
      expect(await pttlOf(id)).toBe(-2)
    })
  })

  it('Redis drops a session by itself when it expires (no sweep): ttl 1 is gone within 3 s', async () => {
    await withServer({ ttl: 1 }, async (client) => {
      const { id } = await client.json('/set/a/1')
      const redisKey = await redisKeyOfId(store, id)
      expect(await redis.exists(redisKey)).toBe(1)
      const deadline = Date.now() + 3000
      while (await redis.exists(redisKey) && Date.now() < deadline) await sleep(100)
      expect(await redis.exists(redisKey)).toBe(0)
    })
  })
})

const binaries = redisBinaries()
if (!binaries.ok) console.log(`[skip] private redis-server tests skipped: ${binaries.reason}`)

describe.skipIf(!binaries.ok)('[nuxt-server-session] RedisSessionStore on a private redis-server: NOSCRIPT fallback and commands per request', () => {
  let node: RedisProcess
  let client: Redis
  let admin: Redis
  let sent: ReturnType<typeof recordCommands>
  let store: RedisSessionStore
  let server: TestServer

  beforeAll(async () => {
    node = await startRedisServer(await freePort())
    client = new Redis({ host: '127.0.0.1', port: node.port, maxRetriesPerRequest: 1 })
    admin = new Redis({ host: '127.0.0.1', port: node.port, maxRetriesPerRequest: 1 })
    expect(await client.ping()).toBe('PONG')
    expect(await admin.ping()).toBe('PONG')
    sent = recordCommands(client)
    store = new RedisSessionStore(client, { prefix: 'nss-private' })
    server = await serve(sessionApp({ store }).app)
  })
  afterAll(async () => {
    await server?.close()
    await client?.quit().catch(() => {})
    await admin?.quit().catch(() => {})
    await node?.stop()
  })

  interface Measured {
    /** Commands the store's client sent, in order: one round trip each. */
    sent: string[]
    /** Calls per command as Redis counted them (INFO commandstats), including those a script ran. */
    server: Record<string, number>
  }

  /** What `run` cost: CONFIG RESETSTAT, run, INFO commandstats (the admin connection's own CONFIG and INFO left out). */
  async function measure(run: () => Promise<void>): Promise<Measured> {
    await admin.config('RESETSTAT')
    sent.take()
    await run()
    return { sent: sent.take(), server: await commandCalls(admin) }
  }

  /** Commands that change data, as Redis counted them (a script's included). */
  const WRITES = ['hset', 'hdel', 'del', 'unlink', 'pexpire', 'expire', 'rename', 'set']
  const writesOf = (m: Measured) => Object.entries(m.server).filter(([name]) => WRITES.includes(name)).reduce((n, [, calls]) => n + calls, 0)
  /** "N (cmd + cmd)": what the store sent, one round trip each. */
  const sentOf = (m: Measured, skip: string[] = []) => {
    const list = m.sent.filter(c => !skip.includes(c))
    return `${list.length} (${list.join(' + ') || 'none'})`
  }
  /** The commands a script ran, as Redis counted them. */
  const scriptOf = (m: Measured) => Object.entries(m.server).filter(([name]) => !m.sent.includes(name)).map(([name, calls]) => `${calls} ${name}`).join(', ')

  async function ok(browser: Client, path: string): Promise<any> {
    const res = await browser.fetch(path)
    expect(res.status).toBe(200)
    return res.json()
  }

  it('a save after SCRIPT FLUSH still works (EVALSHA fails with NOSCRIPT, EVAL runs the script), and the next save is a single EVALSHA again', async () => {
    const browser = new Client(server.url)
    await ok(browser, '/set/a/1')
    await ok(browser, '/set/b/2')
    expect(await admin.script('FLUSH')).toBe('OK')
    const afterFlush = await measure(async () => {
      expect((await ok(browser, '/set/c/3')).data).toStrictEqual({ a: '1', b: '2', c: '3' })
    })
    expect(afterFlush.sent).toStrictEqual(['hgetall', 'evalsha', 'eval'])
    expect(afterFlush.server).toMatchObject({ hgetall: 1, evalsha: 1, eval: 1 })
    expect(await ok(browser, '/read')).toMatchObject({ isNew: false, data: { a: '1', b: '2', c: '3' } })
    const next = await measure(async () => {
      await ok(browser, '/set/d/4')
    })
    expect(next.sent).toStrictEqual(['hgetall', 'evalsha'])
    expect(next.server).not.toHaveProperty('eval')
    expect((await ok(browser, '/read')).data).toStrictEqual({ a: '1', b: '2', c: '3', d: '4' })
  })

  it('regenerate (the move script) after SCRIPT FLUSH still works, and the new id holds the data', async () => {
    const browser = new Client(server.url)
    const { id } = await ok(browser, '/set/a/1')
    expect(await admin.script('FLUSH')).toBe('OK')
    const { before, after } = await ok(browser, '/regenerate')
    expect(before).toBe(id)
    expect(after).not.toBe(id)
    expect(await ok(browser, '/read')).toMatchObject({ id: after, isNew: false, data: { a: '1', user: 'alice' } })
    expect(await client.exists(await redisKeyOfId(store, id))).toBe(0)
  })

  it('commands per request: read = 1 (HGETALL), unchanged read within the touch interval = no write, write = 1 round trip (one EVALSHA)', async () => {
    const browser = new Client(server.url)
    // Warm up: the first write after a start or a flush needs EVAL (NOSCRIPT).
    await ok(browser, '/set/a/1')
    await ok(browser, '/set/b/2')

    const read = await measure(async () => {
      await ok(browser, '/read')
    })
    const unchanged = await measure(async () => {
      await ok(browser, '/read')
    })
    const write = await measure(async () => {
      await ok(browser, '/set/c/3')
    })
    const created = await measure(async () => {
      await ok(new Client(server.url), '/set/x/1')
    })
    const anonymous = await measure(async () => {
      await ok(new Client(server.url), '/read')
    })
    const destroyed = await measure(async () => {
      await ok(browser, '/destroy')
    })
    console.log(`[figure] Redis commands: read ${sentOf(read)}, unchanged request ${sentOf(unchanged)} and ${writesOf(unchanged)} writes, write ${sentOf(write, ['hgetall'])} round trip after the load (${read.sent.join(', ')}); the script ran ${scriptOf(write)}`)
    console.log(`[figure] Redis commands: new session ${sentOf(created)} (script ran ${scriptOf(created)}), request without a cookie ${sentOf(anonymous)}, destroy ${sentOf(destroyed)}`)

    expect(read.sent).toStrictEqual(['hgetall'])
    expect(read.server).toStrictEqual({ hgetall: 1 })
    expect(unchanged.sent).toStrictEqual(['hgetall'])
    expect(unchanged.server).toStrictEqual({ hgetall: 1 })
    expect(writesOf(unchanged)).toBe(0)
    // The write itself is one EVALSHA, after the HGETALL that loaded the session.
    expect(write.sent).toStrictEqual(['hgetall', 'evalsha'])
    expect(write.server).toMatchObject({ hgetall: 1, evalsha: 1 })
    expect(write.server).not.toHaveProperty('eval')
    expect(created.sent).toStrictEqual(['evalsha'])
    expect(created.server).not.toHaveProperty('hgetall')
    expect(anonymous.sent).toStrictEqual([])
    expect(anonymous.server).toStrictEqual({})
    expect(destroyed.sent).toStrictEqual(['hgetall', 'del'])
    expect(destroyed.server).toStrictEqual({ hgetall: 1, del: 1 })
  })
})
