/**
 * The conformance suite of the `SessionStore` contract (see `src/runtime/server/core/store.ts`),
 * in the style of unstorage's `testDriver`: every store implementation calls
 * `describeStoreConformance(name, factory)` from its own test file, against the real backend.
 *
 * The factory is called once per suite (in `beforeAll`); its `cleanup` runs in `afterAll`. Tests
 * use fresh random session ids, so they never see each other's records. `raw`, when given, is
 * direct access to the backend, below the store, by the backend's own full keys; the tests that
 * need it (layout, corrupt records, prototype keys) are skipped without it.
 */
import type { Storage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeSessionRecord, encodeSessionRecord, SessionDataError, SessionRecordError } from 'nuxt-server-session/h3'
import type { SessionRecord, SessionStore, SessionWrite } from 'nuxt-server-session/h3'
import { storeKeyOf } from '../../src/runtime/server/core/crypto'

/** Direct access to the backend under a store, by the backend's full keys (prefix included). */
export interface RawStoreAccess {
  /** Every full key in the backend that belongs to this suite (may include other stores' keys). */
  keys: () => Promise<string[]>
  /** The stored value as the backend returns it (string, bytes, ...), `null`/`undefined` if none. */
  get: (fullKey: string) => Promise<unknown>
  /** Overwrites the stored value with exactly `value`. */
  put: (fullKey: string, value: string) => Promise<void>
}

export interface StoreConformanceContext {
  store: SessionStore
  cleanup?: () => Promise<void>
  raw?: RawStoreAccess
}

/** `raw` access for an unstorage instance: its own keys, `getItemRaw` and `setItemRaw`. */
export function unstorageRaw(storage: Storage): RawStoreAccess {
  return {
    keys: () => storage.getKeys(),
    get: fullKey => storage.getItemRaw(fullKey),
    put: (fullKey, value) => storage.setItemRaw(fullKey, value),
  }
}

/** A fake session id with the shape of a real one: 32 random bytes, base64url, 43 characters. */
export function fakeSessionId(): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
}

/** Hex SHA-256 of `text` with Web Crypto: how the library turns a session id into a store key. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return Buffer.from(digest).toString('hex')
}

/** A stored value (string, bytes, or an object a driver parsed) as text. */
export function rawText(value: unknown): string {
  if (typeof value === 'string') return value
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return new TextDecoder().decode(value)
  return JSON.stringify(value)
}

const HOUR = 3_600_000

/** A live record: started a minute ago, touched now, expiring in an hour (on the real clock). */
function liveRecord(data: Record<string, unknown>, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now()
  return { createdAt: now - 60_000, touchedAt: now, expiresAt: now + HOUR, data, ...overrides }
}

function ttlOf(record: SessionRecord): number {
  return Math.max(1, Math.ceil((record.expiresAt - Date.now()) / 1000))
}

function createWrite(record: SessionRecord): SessionWrite {
  return { create: true, changed: Object.keys(record.data), removed: [], ttl: ttlOf(record) }
}

function updateWrite(record: SessionRecord, changed: string[], removed: string[] = []): SessionWrite {
  return { create: false, changed, removed, ttl: ttlOf(record) }
}

/** Data that exercises every JSON type, unicode in keys and values, and deep nesting. */
const RICH_DATA: Record<string, unknown> = {
  'ascii': 'hello',
  'unicode': 'héllo wörld — 日本語 — Ελληνικά — עברית — 😀👍🏽👨‍👩‍👧 — e\u0301',
  'escapes': 'quote " backslash \\ slash / newline \n tab \t nul \u0000 ls \u2028 ps \u2029',
  'loneSurrogates': '\uD800 and \uDFFF',
  'emptyString': '',
  '日本語のキー': '😀',
  '😀': 'emoji key',
  '': 'empty key',
  'with space': 1,
  'dotted.key': 2,
  'colon:key': 3,
  'zero': 0,
  'negative': -42,
  'float': 3.141592653589793,
  'tiny': 5e-324,
  'huge': 1e21,
  'maxSafe': Number.MAX_SAFE_INTEGER,
  'minSafe': Number.MIN_SAFE_INTEGER,
  'yes': true,
  'no': false,
  'nothing': null,
  'emptyObject': {},
  'emptyArray': [],
  'array': [1, 'two', true, null, { three: 3 }, [4, [5, [6]]]],
  'nested': { user: { id: 7, roles: ['admin', 'user'], profile: { name: 'Zoë', tags: [], meta: { deep: { deeper: { deepest: [null, false, 0, ''] } } } } } },
  'constructor': 'a plain string under a constructor key',
  'prototype': 'a plain string under a prototype key',
  'toString': 'not a function',
}

/**
 * Defines the conformance suite of a `SessionStore`. `factory` builds the store (once per suite);
 * see {@link StoreConformanceContext}.
 */
export function describeStoreConformance(name: string, factory: () => Promise<StoreConformanceContext>, options: { raw?: boolean } = {}): void {
  // Checks that read the backend directly exist only for stores that keep a record as one value.
  const rawIt = options.raw === false ? Object.assign(() => {}, { for: () => () => {} }) as unknown as typeof it : it
  const rawDescribe = (options.raw === false ? () => {} : describe) as typeof describe
  describe(`[nuxt-server-session] store conformance: ${name}`, () => {
    let ctx: StoreConformanceContext
    let store: SessionStore

    beforeAll(async () => {
      ctx = await factory()
      store = ctx.store
    })
    afterAll(async () => {
      await ctx?.cleanup?.()
    })

    /** A fresh session id and its store key. */
    async function newKey(): Promise<{ id: string, key: string }> {
      const id = fakeSessionId()
      return { id, key: await sha256Hex(id) }
    }

    /** Writes a new record under a fresh key. */
    async function created(data: Record<string, unknown>, overrides: Partial<SessionRecord> = {}) {
      const { id, key } = await newKey()
      const record = liveRecord(data, overrides)
      expect(await store.set(key, record, createWrite(record))).toBe(true)
      return { id, key, record }
    }

    /** The backend's full keys that hold `key`. */
    async function rawKeysOf(key: string): Promise<string[]> {
      return (await ctx.raw!.keys()).filter(k => k.includes(key))
    }

    /** The one full key that holds `key`. */
    async function rawKeyOf(key: string): Promise<string> {
      const keys = await rawKeysOf(key)
      expect(keys).toHaveLength(1)
      return keys[0]!
    }

    /** A store key whose stored value is exactly `text` (created through the store first). */
    async function storedAs(text: string): Promise<{ key: string, fullKey: string }> {
      const { key } = await created({ placeholder: true })
      const fullKey = await rawKeyOf(key)
      await ctx.raw!.put(fullKey, text)
      return { key, fullKey }
    }

    function expectSameRecord(actual: SessionRecord | undefined, expected: SessionRecord): void {
      expect(actual).toBeDefined()
      expect(actual!.createdAt).toBe(expected.createdAt)
      expect(actual!.touchedAt).toBe(expected.touchedAt)
      expect(actual!.expiresAt).toBe(expected.expiresAt)
      expect(actual!.data).toStrictEqual(expected.data)
    }

    describe('get', () => {
      it('get of a key that was never written resolves to undefined', async () => {
        const { key } = await newKey()
        await expect(store.get(key)).resolves.toBeUndefined()
      })
    })

    describe('create (create: true)', () => {
      it('create returns true, and get round-trips createdAt, touchedAt, expiresAt and data exactly (unicode, nesting, arrays, numbers, booleans, null)', async () => {
        const { key } = await newKey()
        const now = Date.now()
        // Odd, non-round timestamps, including a fractional one, so that nothing is rounded away.
        const record: SessionRecord = { createdAt: now - 123_457, touchedAt: now - 0.5, expiresAt: now + 3_599_999, data: structuredClone(RICH_DATA) }
        expect(await store.set(key, record, createWrite(record))).toBe(true)
        const got = await store.get(key)
        expectSameRecord(got, { ...record, data: RICH_DATA })
        // The order of top-level keys is not part of the contract (a Redis hash does not keep it).
        expect(Object.keys(got!.data).sort()).toStrictEqual(Object.keys(RICH_DATA).sort())
        expect(Object.getPrototypeOf(got!.data)).toBe(Object.prototype)
      })

      it('create round-trips an empty data object', async () => {
        const { key, record } = await created({})
        expectSameRecord(await store.get(key), record)
      })

      it('create over an existing record replaces it whole (the target of regenerate())', async () => {
        const { key } = await created({ old: 1, shared: 'old' })
        const record = liveRecord({ shared: 'new', fresh: true })
        expect(await store.set(key, record, createWrite(record))).toBe(true)
        expectSameRecord(await store.get(key), record)
      })

      it('records under different keys are independent', async () => {
        const a = await created({ who: 'a' })
        const b = await created({ who: 'b' })
        expectSameRecord(await store.get(a.key), a.record)
        expectSameRecord(await store.get(b.key), b.record)
        await store.delete(a.key)
        await expect(store.get(a.key)).resolves.toBeUndefined()
        expectSameRecord(await store.get(b.key), b.record)
      })

      it('set keeps no reference to the caller\'s record: mutating it after set changes nothing stored', async () => {
        const { key } = await newKey()
        const record = liveRecord({ list: [1], obj: { a: 1 } })
        const expected = structuredClone(record)
        await store.set(key, record, createWrite(record))
        ;(record.data.list as number[]).push(2)
        ;(record.data.obj as Record<string, number>).a = 2
        record.data.added = true
        record.expiresAt = 0
        expectSameRecord(await store.get(key), expected)
      })

      it('get returns a copy: mutating the returned record changes nothing stored', async () => {
        const { key, record } = await created({ list: [1], obj: { a: 1 } })
        const expected = structuredClone(record)
        const first = (await store.get(key))!
        ;(first.data.list as number[]).push(2)
        ;(first.data.obj as Record<string, number>).a = 2
        first.data.added = true
        first.expiresAt = 0
        expectSameRecord(await store.get(key), expected)
      })
    })

    describe('update (create: false)', () => {
      it('update of a key that was never written returns false and writes nothing', async () => {
        const { key } = await newKey()
        const record = liveRecord({ a: 1 })
        expect(await store.set(key, record, updateWrite(record, ['a']))).toBe(false)
        await expect(store.get(key)).resolves.toBeUndefined()
        if (ctx.raw) expect(await rawKeysOf(key)).toStrictEqual([])
      })

      it('no resurrection: delete, then update returns false and get stays undefined', async () => {
        const { key, record } = await created({ a: 1 })
        await store.delete(key)
        const next = { ...record, touchedAt: record.touchedAt + 1, data: { a: 2 } }
        expect(await store.set(key, next, updateWrite(next, ['a']))).toBe(false)
        await expect(store.get(key)).resolves.toBeUndefined()
        if (ctx.raw) expect(await rawKeysOf(key)).toStrictEqual([])
      })

      it('update of an expired record returns false and leaves it as it was (or gone)', async () => {
        const now = Date.now()
        const { key, record } = await created({ a: 1 }, { createdAt: now - 2 * HOUR, touchedAt: now - HOUR, expiresAt: now - 1000 })
        const next = liveRecord({ a: 2 }, { createdAt: record.createdAt })
        expect(await store.set(key, next, updateWrite(next, ['a']))).toBe(false)
        const got = await store.get(key)
        // Stores with native expiry may have dropped it; any other store returns it unchanged.
        if (got !== undefined) expectSameRecord(got, record)
      })

      it('update writes the new timestamps and the changed keys, and returns true', async () => {
        const { key, record } = await created({ a: 1, b: 'x' })
        const next: SessionRecord = { createdAt: record.createdAt, touchedAt: record.touchedAt + 5000, expiresAt: record.expiresAt + 5000, data: { a: 2, b: 'x', c: [3] } }
        expect(await store.set(key, next, updateWrite(next, ['a', 'c']))).toBe(true)
        expectSameRecord(await store.get(key), next)
      })

      it('update with only new timestamps (a touch: nothing changed) keeps the data and moves the deadlines', async () => {
        const { key, record } = await created({ a: 1, nested: { b: [2] } })
        const next: SessionRecord = { ...record, touchedAt: record.touchedAt + 1000, expiresAt: record.expiresAt + 1000 }
        expect(await store.set(key, next, updateWrite(next, []))).toBe(true)
        expectSameRecord(await store.get(key), next)
      })

      it('update merges only changed/removed keys: two requests that loaded the same record and change different keys both keep their change', async () => {
        const { key, record: loaded } = await created({ a: 1, b: 1, c: 1, keep: 'k' })
        // Request 1 loaded the record, sets a and removes c.
        const first: SessionRecord = { ...loaded, touchedAt: loaded.touchedAt + 1, expiresAt: loaded.expiresAt + 1, data: { a: 2, b: 1, keep: 'k' } }
        // Request 2 loaded the same record (before request 1 saved), sets b only.
        const second: SessionRecord = { ...loaded, touchedAt: loaded.touchedAt + 2, expiresAt: loaded.expiresAt + 2, data: { a: 1, b: 2, c: 1, keep: 'k' } }
        expect(await store.set(key, first, updateWrite(first, ['a'], ['c']))).toBe(true)
        expect(await store.set(key, second, updateWrite(second, ['b']))).toBe(true)
        const got = await store.get(key)
        // a from request 1, b from request 2, c stays removed, keep untouched; the last write's timestamps.
        expectSameRecord(got, { ...second, data: { a: 2, b: 2, keep: 'k' } })
      })

      it('update with `base` (the record as loaded) and `encoded`: still merges when another request wrote since, and writes the record when none did', async () => {
        const { key } = await created({ a: 1, b: 1, keep: 'k' })
        // Two requests load the same stored record.
        const loaded1 = (await store.get(key))!
        const loaded2 = (await store.get(key))!
        const first: SessionRecord = { ...loaded1, touchedAt: loaded1.touchedAt + 1, data: { ...loaded1.data, a: 2 } }
        expect(await store.set(key, first, { ...updateWrite(first, ['a']), base: loaded1, encoded: encodeSessionRecord(first) })).toBe(true)
        const second: SessionRecord = { ...loaded2, touchedAt: loaded2.touchedAt + 2, data: { ...loaded2.data, b: 2 } }
        expect(await store.set(key, second, { ...updateWrite(second, ['b']), base: loaded2, encoded: encodeSessionRecord(second) })).toBe(true)
        expectSameRecord(await store.get(key), { ...second, data: { a: 2, b: 2, keep: 'k' } })
        // Nothing written since: the next update from the record as last written applies as is.
        const third: SessionRecord = { ...second, touchedAt: second.touchedAt + 1, data: { a: 3, keep: 'k' } }
        const loaded3 = (await store.get(key))!
        expect(await store.set(key, third, { ...updateWrite(third, ['a'], ['b']), base: loaded3, encoded: encodeSessionRecord(third) })).toBe(true)
        expectSameRecord(await store.get(key), third)
        // A base whose record is gone does not bring it back.
        await store.delete(key)
        expect(await store.set(key, third, { ...updateWrite(third, ['a']), base: loaded3, encoded: encodeSessionRecord(third) })).toBe(false)
        expect(await store.get(key)).toBeUndefined()
      })

      it('update with a removed key deletes only that key, even when other keys were set meanwhile', async () => {
        const { key, record: loaded } = await created({ a: 1, b: 1 })
        const other: SessionRecord = { ...loaded, data: { a: 1, b: 1, z: 'other request' } }
        expect(await store.set(key, other, updateWrite(other, ['z']))).toBe(true)
        const removing: SessionRecord = { ...loaded, data: { b: 1 } }
        expect(await store.set(key, removing, updateWrite(removing, [], ['a']))).toBe(true)
        expectSameRecord(await store.get(key), { ...removing, data: { b: 1, z: 'other request' } })
      })

      it('update replaces a changed key\'s whole value (no deep merge of nested objects)', async () => {
        const { key, record } = await created({ user: { id: 1, name: 'a', roles: ['x', 'y'] } })
        const next: SessionRecord = { ...record, data: { user: { id: 1, roles: ['y'] } } }
        expect(await store.set(key, next, updateWrite(next, ['user']))).toBe(true)
        expectSameRecord(await store.get(key), next)
      })

      it('update with a changed key named __proto__ changes no prototype and stores no __proto__ key', async () => {
        const { key, record } = await created({ a: 1 })
        const data = JSON.parse('{"a":1,"__proto__":{"pollutedByUpdate":true}}') as Record<string, unknown>
        const next: SessionRecord = { ...record, data }
        const result = await store.set(key, next, updateWrite(next, ['__proto__'])).catch((error: unknown) => error)
        expect(result === true || result instanceof Error).toBe(true)
        expect(({} as Record<string, unknown>).pollutedByUpdate).toBeUndefined()
        const got = (await store.get(key))!
        expect(Object.getPrototypeOf(got.data)).toBe(Object.prototype)
        expect(Object.hasOwn(got.data, '__proto__')).toBe(false)
        expect(got.data.pollutedByUpdate).toBeUndefined()
        expect(got.data.a).toBe(1)
      })
    })

    describe('delete', () => {
      it('delete removes the record', async () => {
        const { key } = await created({ a: 1 })
        await store.delete(key)
        await expect(store.get(key)).resolves.toBeUndefined()
        if (ctx.raw) expect(await rawKeysOf(key)).toStrictEqual([])
      })

      it('delete of a key that was never written does not throw, nor does a second delete', async () => {
        const { key } = await newKey()
        await expect(store.delete(key)).resolves.toBeUndefined()
        const { key: existing } = await created({ a: 1 })
        await store.delete(existing)
        await expect(store.delete(existing)).resolves.toBeUndefined()
      })
    })

    describe('storage layout', () => {
      it('the test\'s own SHA-256 hex of an id is the library\'s store key (storeKeyOf)', async () => {
        const id = fakeSessionId()
        const key = await sha256Hex(id)
        expect(key).toMatch(/^[0-9a-f]{64}$/)
        expect(await storeKeyOf(id)).toBe(key)
      })

      rawIt('a record is stored under the store\'s prefix and the hashed key, never under the session id', async () => {
        if (!ctx.raw) throw new Error('this check needs raw access to the backend')
        const { id, key } = await created({ a: 1 })
        const fullKey = await rawKeyOf(key)
        // A store adds its own prefix: the full key is never the bare hashed key.
        expect(fullKey).not.toBe(key)
        expect(fullKey.endsWith(key)).toBe(true)
        const prefix = (store as { prefix?: unknown }).prefix
        if (typeof prefix === 'string') expect(fullKey.endsWith(`${prefix}:${key}`)).toBe(true)
        for (const k of await ctx.raw.keys()) expect(k).not.toContain(id)
      })

      rawIt('the stored value never contains the session id, and decodes to the record', async () => {
        if (!ctx.raw) throw new Error('this check needs raw access to the backend')
        const { id, key, record } = await created({ note: 'value check', user: { name: 'Zoë' } })
        const text = rawText(await ctx.raw.get(await rawKeyOf(key)))
        expect(text).not.toContain(id)
        expectSameRecord(decodeSessionRecord(text), record)
      })
    })

    rawDescribe('corrupt stored values', () => {
      const CORRUPT: [string, string][] = [
        ['garbage', 'garbage'],
        ['an empty string', ''],
        ['a JSON array', '[]'],
        ['a JSON number', '123'],
        ['a JSON string', '"text"'],
        ['JSON null', 'null'],
        ['truncated JSON', '{"v":1,"createdAt":1700000000000,"touchedAt":1700000000000,"expiresAt":17000'],
        ['{"createdAt":"x"}', '{"createdAt":"x"}'],
        ['a record without data', '{"v":1,"createdAt":1,"touchedAt":1,"expiresAt":99999999999999}'],
        ['a record whose data is an array', '{"v":1,"createdAt":1,"touchedAt":1,"expiresAt":99999999999999,"data":[]}'],
        ['a record whose data is null', '{"v":1,"createdAt":1,"touchedAt":1,"expiresAt":99999999999999,"data":null}'],
        ['a record with a string timestamp', '{"v":1,"createdAt":"1","touchedAt":1,"expiresAt":99999999999999,"data":{}}'],
        ['a record with a negative timestamp', '{"v":1,"createdAt":-1,"touchedAt":1,"expiresAt":99999999999999,"data":{}}'],
        ['a record with an overflowing timestamp (1e999)', '{"v":1,"createdAt":1,"touchedAt":1,"expiresAt":1e999,"data":{}}'],
        ['a record whose fields hide behind a top-level __proto__', '{"__proto__":{"createdAt":1,"touchedAt":1,"expiresAt":99999999999999,"data":{}}}'],
      ]

      rawIt.for(CORRUPT)('get throws SessionRecordError for a stored value that is %s', async ([, text]) => {
        if (!ctx.raw) throw new Error('this check needs raw access to the backend')
        const { key } = await storedAs(text)
        const error = await store.get(key).then(() => undefined, (e: unknown) => e)
        expect(error).toBeInstanceOf(SessionRecordError)
        expect((error as SessionRecordError).code).toBe('ERR_SESSION_RECORD_CORRUPT')
      })

      rawIt('update of a corrupt record writes nothing: it returns false (or throws) and the stored value stays as it was', async () => {
        if (!ctx.raw) throw new Error('this check needs raw access to the backend')
        const { key, fullKey } = await storedAs('garbage')
        const next = liveRecord({ a: 1 })
        const result = await store.set(key, next, updateWrite(next, ['a'])).catch((error: unknown) => error)
        expect(result === false || result instanceof Error).toBe(true)
        expect(rawText(await ctx.raw.get(fullKey))).toBe('garbage')
      })
    })

    rawDescribe('prototype keys in stored JSON', () => {
      /** A stored record with `dataJson` as its data, read back through the store. */
      async function readBack(dataJson: string): Promise<SessionRecord> {
        const now = Date.now()
        const { key } = await storedAs(`{"v":1,"createdAt":${now},"touchedAt":${now},"expiresAt":${now + HOUR},"data":${dataJson}}`)
        const record = await store.get(key)
        expect(record).toBeDefined()
        return record!
      }

      function expectNoPollution(): void {
        for (const probe of [{}, [], Object.create(null) as object]) {
          expect((probe as Record<string, unknown>).polluted).toBeUndefined()
        }
        expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false)
        expect(Object.hasOwn(Array.prototype, 'polluted')).toBe(false)
      }

      function expectClean(value: Record<string, unknown>): void {
        expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
        expect(Object.hasOwn(value, '__proto__')).toBe(false)
        expect(value.polluted).toBeUndefined()
      }

      rawIt('a __proto__ key in data is dropped, and no prototype changes', async () => {
        if (!ctx.raw) throw new Error('this check needs raw access to the backend')
        const { data } = await readBack('{"__proto__":{"polluted":"yes"},"ok":1}')
        expectClean(data)
        expect(data).toStrictEqual({ ok: 1 })
        expectNoPollution()
      })

      rawIt('a constructor.prototype key in data is dropped, and no prototype changes', async () => {
        if (!ctx.raw) throw new Error('this check needs raw access to the backend')
        const { data } = await readBack('{"constructor":{"prototype":{"polluted":"yes"}},"ok":1}')
        expectClean(data)
        expect(Object.hasOwn(data, 'constructor')).toBe(false)
        expect(data.constructor).toBe(Object)
        expect(data).toStrictEqual({ ok: 1 })
        expectNoPollution()
      })

      rawIt('nested __proto__ and constructor.prototype keys (in objects and arrays) are dropped, and no prototype changes', async () => {
        if (!ctx.raw) throw new Error('this check needs raw access to the backend')
        const { data } = await readBack('{"nested":{"__proto__":{"polluted":"yes"},"deeper":{"constructor":{"prototype":{"polluted":"yes"}},"keep":true}},"list":[{"__proto__":{"polluted":"yes"},"n":1},{"constructor":{"prototype":{"polluted":"yes"}}}]}')
        expect(data).toStrictEqual({ nested: { deeper: { keep: true } }, list: [{ n: 1 }, {}] })
        const nested = data.nested as Record<string, unknown>
        const list = data.list as Record<string, unknown>[]
        for (const value of [data, nested, nested.deeper as Record<string, unknown>, list[0]!, list[1]!]) expectClean(value)
        expect(Object.hasOwn(nested.deeper as object, 'constructor')).toBe(false)
        expect(Object.hasOwn(list[1]!, 'constructor')).toBe(false)
        expectNoPollution()
      })

      rawIt('__proto__ and constructor spelt with \\u escapes (\\u005f, \\u0063) are dropped too, and no prototype changes', async () => {
        if (!ctx.raw) throw new Error('this check needs raw access to the backend')
        const { data } = await readBack(String.raw`{"\u005f\u005fproto\u005f\u005f":{"polluted":"yes"},"\u005f_proto__":{"polluted":"yes"},"\u0063onstructor":{"\u0070rototype":{"polluted":"yes"}},"nested":{"_\u005fproto__":{"polluted":"yes"},"k":"\u00e9"},"ok":1}`)
        expect(data).toStrictEqual({ nested: { k: 'é' }, ok: 1 })
        expectClean(data)
        expectClean(data.nested as Record<string, unknown>)
        expect(Object.hasOwn(data, 'constructor')).toBe(false)
        expectNoPollution()
      })

      rawIt('harmless constructor and prototype keys (no prototype inside) are kept as data', async () => {
        if (!ctx.raw) throw new Error('this check needs raw access to the backend')
        const { data } = await readBack('{"constructor":"text","prototype":{"a":1},"obj":{"constructor":{"name":"x"}}}')
        // (compared as JSON: toStrictEqual reads `.constructor` to compare types)
        expect(JSON.stringify(data)).toBe('{"constructor":"text","prototype":{"a":1},"obj":{"constructor":{"name":"x"}}}')
        expect(Object.hasOwn(data, 'constructor') && Object.hasOwn(data.obj as object, 'constructor')).toBe(true)
        expectClean(data)
        expectNoPollution()
      })
    })

    describe('encodeSessionRecord / decodeSessionRecord', () => {
      const base = { createdAt: 1_700_000_000_000, touchedAt: 1_700_000_000_001, expiresAt: 1_700_003_600_001 }

      it('encode then decode round-trips a record exactly', () => {
        const record: SessionRecord = { ...base, data: structuredClone(RICH_DATA) }
        expectSameRecord(decodeSessionRecord(encodeSessionRecord(record)), { ...base, data: RICH_DATA })
      })

      it('encode throws SessionDataError when data is over maxSize bytes, and accepts exactly maxSize', () => {
        const data = { s: 'x'.repeat(100) } // {"s":"xxx..."} is 108 bytes
        expect(() => encodeSessionRecord({ ...base, data }, 108)).not.toThrow()
        expect(() => encodeSessionRecord({ ...base, data }, 107)).toThrow(SessionDataError)
        expect(() => encodeSessionRecord({ ...base, data: { s: 'x'.repeat(100_000) } }, 64 * 1024)).toThrow(SessionDataError)
      })

      it('maxSize counts UTF-8 bytes, not characters (3-byte € and 4-byte emoji)', () => {
        const euro = { s: '€'.repeat(100) } // 8 + 300 bytes, 108 UTF-16 units
        expect(() => encodeSessionRecord({ ...base, data: euro }, 308)).not.toThrow()
        expect(() => encodeSessionRecord({ ...base, data: euro }, 307)).toThrow(SessionDataError)
        const emoji = { s: '😀'.repeat(50) } // 8 + 200 bytes, 108 UTF-16 units
        expect(() => encodeSessionRecord({ ...base, data: emoji }, 208)).not.toThrow()
        expect(() => encodeSessionRecord({ ...base, data: emoji }, 207)).toThrow(SessionDataError)
      })

      it('encode throws SessionDataError for a BigInt, at any depth', () => {
        expect(() => encodeSessionRecord({ ...base, data: { n: 1n } })).toThrow(SessionDataError)
        expect(() => encodeSessionRecord({ ...base, data: { deep: { list: [1, 2n] } } })).toThrow(SessionDataError)
      })

      it('encode throws SessionDataError for a cycle', () => {
        const data: Record<string, unknown> = { a: 1 }
        data.self = data
        expect(() => encodeSessionRecord({ ...base, data })).toThrow(SessionDataError)
        const list: unknown[] = []
        list.push({ list })
        expect(() => encodeSessionRecord({ ...base, data: { list } })).toThrow(SessionDataError)
      })

      // A plain object with a `toJSON` key (accepted by session.set()) must not reach the store
      // as anything but a JSON object.
      it('encode throws SessionDataError (not a TypeError) for data whose toJSON returns undefined', () => {
        expect(() => encodeSessionRecord({ ...base, data: { toJSON: () => undefined } })).toThrow(SessionDataError)
      })

      it('encode never produces a record that decode rejects: data whose toJSON returns an array throws SessionDataError', () => {
        const data = { toJSON: () => ['not', 'an', 'object'] }
        let text: string
        try {
          text = encodeSessionRecord({ ...base, data })
        }
        catch (error) {
          expect(error).toBeInstanceOf(SessionDataError)
          return
        }
        // Whatever encode accepts, decode must read back; today it throws SessionRecordError here.
        expect(() => decodeSessionRecord(text)).not.toThrow()
      })

      it('decode accepts UTF-8 bytes (Uint8Array, ArrayBuffer) and an object a driver already parsed', () => {
        const record: SessionRecord = { ...base, data: { s: 'Zoë 😀', n: [1, { b: true }] } }
        const text = encodeSessionRecord(record)
        const bytes = new TextEncoder().encode(text)
        expectSameRecord(decodeSessionRecord(bytes), record)
        expectSameRecord(decodeSessionRecord(bytes.buffer), record)
        expectSameRecord(decodeSessionRecord(Buffer.from(text)), record)
        expectSameRecord(decodeSessionRecord(JSON.parse(text)), record)
      })

      it('decode drops __proto__ and constructor.prototype from an object a driver already parsed', () => {
        const parsed: unknown = JSON.parse(`{"createdAt":1,"touchedAt":1,"expiresAt":2,"data":{"__proto__":{"polluted":"yes"},"c":{"constructor":{"prototype":{"polluted":"yes"}}},"ok":1}}`)
        const { data } = decodeSessionRecord(parsed)
        expect(data).toStrictEqual({ c: {}, ok: 1 })
        expect(Object.getPrototypeOf(data)).toBe(Object.prototype)
        expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      })

      it('decode throws SessionRecordError for values of other types (number, boolean, null, undefined, function)', () => {
        for (const value of [123, true, null, undefined, () => {}, Symbol('s')]) {
          expect(() => decodeSessionRecord(value)).toThrow(SessionRecordError)
        }
      })
    })
  })
}
