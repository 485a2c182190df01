import { Redis } from 'ioredis'
import { createStorage, prefixStorage } from 'unstorage'
import redisDriver from 'unstorage/drivers/redis'
import type { Storage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisSessionStore, UnstorageSessionStore } from 'nuxt-server-session/h3'
import type { SessionOptions, SessionStore } from 'nuxt-server-session/h3'
import { storeKeyOf } from '../../src/runtime/server/core/crypto'
import { userKeyOf } from '../../src/runtime/server/core/session'
import { SECRET, testClock } from '../support/app'
import { deviceOn, devicesServer } from '../support/devices-app'
import type { Device } from '../support/devices-app'
import { figure } from '../support/figure'
import { Client } from '../support/server'
import type { TestServer } from '../support/server'
import { redisAddress } from '../support/services'

/**
 * "Your devices" at the h3 level over real HTTP: the user index kept by RedisSessionStore on the
 * real Redis (own prefix, cleaned afterwards), then the cap and the sweep once on
 * UnstorageSessionStore over the memory driver with an injected clock.
 */

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const PREFIX = `nss-unit-devices-${process.pid}`
/** Seconds: short enough to see the index key's TTL, long enough for every test. */
const MAX_LIFETIME = 60

/** The handle a session id is listed under: the tail of its store key. */
const handleOfId = async (id: string) => (await storeKeyOf(id)).slice(-24)

describe('[nuxt-server-session] your devices on RedisSessionStore (real Redis)', () => {
  const REDIS = { host: redisAddress().host, port: redisAddress().port }
  const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 1 })
  const stores: RedisSessionStore[] = []
  const servers: TestServer[] = []
  let users = 0
  /** A user id of its own for every test: indexes never mix. */
  const newUser = (name: string) => `${name}-${++users}`

  /** The Redis key of a user's index (`<prefix>:user:{tag}<hash>`). */
  const indexKeyOf = async (user: string) => {
    const userKey = await userKeyOf(user)
    return `${PREFIX}:user:{${userKey.slice(0, 2)}}${userKey.slice(2)}`
  }
  const recordKeyOf = async (id: string) => {
    const key = await storeKeyOf(id)
    return `${PREFIX}:{${key.slice(0, 2)}}${key.slice(2)}`
  }

  async function start(extra: Partial<SessionOptions> = {}): Promise<TestServer> {
    const store = new RedisSessionStore(redisAddress().url, { prefix: PREFIX })
    stores.push(store)
    const server = await devicesServer({ store, secret: SECRET, maxLifetime: MAX_LIFETIME, devices: { userAgent: true }, ...extra })
    servers.push(server)
    return server
  }

  let server: TestServer
  beforeAll(async () => {
    await redis.connect()
    server = await start()
  })
  afterAll(async () => {
    await Promise.all(servers.map(s => s.close()))
    await Promise.all(stores.map(s => s.close()))
    let cursor = '0'
    let pages = 0
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 500)
      if (keys.length) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0' && ++pages < 10_000)
    await redis.quit()
  })

  it('sign-in writes the user into the record and an entry into the user index, a key with a TTL of at most maxLifetime', async () => {
    const user = newUser('ada')
    const phone = deviceOn(server, 'Phone/1.0')
    const { id } = await phone.get(`/sign-in/${user}`)
    const indexKey = await indexKeyOf(user)
    expect(indexKey).not.toContain(user)
    expect(await redis.type(indexKey)).toBe('hash')
    const ttl = await redis.ttl(indexKey)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(MAX_LIFETIME)

    const handle = await handleOfId(id)
    const fields = await redis.hgetall(indexKey)
    expect(Object.keys(fields)).toEqual([handle])
    const entry = JSON.parse(fields[handle]!)
    expect(entry).toMatchObject({ key: await storeKeyOf(id), label: 'Phone/1.0' })
    expect(typeof entry.createdAt).toBe('number')
    expect(JSON.stringify(fields)).not.toContain(id)
    expect(await redis.hget(await recordKeyOf(id), '_u')).toBe(user)

    const list = await phone.get('/list')
    expect(list).toEqual([expect.objectContaining({ handle, current: true, device: 'Phone/1.0' })])
    expect(JSON.stringify(list)).not.toContain(id)
  })

  it('destroy() removes the session\'s index entry at once, without waiting for a listing', async () => {
    const user = newUser('bob')
    const [a, b] = [deviceOn(server, 'A'), deviceOn(server, 'B')]
    const { id: idA } = await a.get(`/sign-in/${user}`)
    const { id: idB } = await b.get(`/sign-in/${user}`)
    const indexKey = await indexKeyOf(user)
    expect(await redis.hlen(indexKey)).toBe(2)
    await a.get('/destroy')
    expect(await redis.hexists(indexKey, await handleOfId(idA))).toBe(0)
    expect(await redis.hexists(indexKey, await handleOfId(idB))).toBe(1)
    expect(await redis.exists(await recordKeyOf(idA))).toBe(0)
    expect((await a.get('/me')).isNew).toBe(true)
    // The last session destroyed: the index key itself is gone.
    await b.get('/destroy')
    expect(await redis.exists(indexKey)).toBe(0)
  })

  it('entries of expired sessions (ttl 2 s) stay until the index is listed, and are dropped then', async () => {
    const short = await start({ ttl: 2 })
    const user = newUser('erin')
    const old = deviceOn(short, 'old')
    const fresh = deviceOn(short, 'fresh')
    const { id: oldId } = await old.get(`/sign-in/${user}`)
    await sleep(1300)
    await fresh.get(`/sign-in/${user}`)
    await sleep(1100)
    // The old record has expired in Redis (PEXPIRE); its index entry has not yet been looked at.
    const indexKey = await indexKeyOf(user)
    expect(await redis.exists(await recordKeyOf(oldId))).toBe(0)
    expect(await redis.hlen(indexKey)).toBe(2)
    const list = await fresh.get('/list')
    expect(list.map((s: any) => s.device)).toEqual(['fresh'])
    expect(await redis.hlen(indexKey)).toBe(1)
    expect(await redis.hexists(indexKey, await handleOfId(oldId))).toBe(0)
    expect((await old.get('/me')).isNew).toBe(true)
  })

  it('a sign-in, with no cap set, prunes the entries of the user\'s sessions that ended: the index never outgrows the live sessions', async () => {
    const short = await start({ ttl: 2 })
    const user = newUser('fay')
    const old = deviceOn(short, 'old')
    const { id: oldId } = await old.get(`/sign-in/${user}`)
    await sleep(2200)
    const indexKey = await indexKeyOf(user)
    expect(await redis.exists(await recordKeyOf(oldId))).toBe(0)
    expect(await redis.hlen(indexKey)).toBe(1)
    const { id: newId } = await deviceOn(short, 'new').get(`/sign-in/${user}`)
    // Not listed by anyone: the sign-in itself dropped the dead entry.
    expect(Object.keys(await redis.hgetall(indexKey))).toEqual([await handleOfId(newId)])
  })

  it('listing reads the user\'s sessions in one pipeline: the same 4 round trips for 3 or 12 sessions (load, index, records, pruning)', async () => {
    // A client of the test's own (no auto-pipelining): every socket write is one round trip.
    const client = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 1 })
    await client.connect()
    const store = new RedisSessionStore(client, { prefix: PREFIX })
    const counted = await devicesServer({ store, secret: SECRET, maxLifetime: MAX_LIFETIME, devices: { userAgent: true } })
    servers.push(counted)
    const socket = (client as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream
    const write = socket.write.bind(socket)
    let writes = 0
    socket.write = (...args: unknown[]) => {
      writes++
      return write(...args)
    }
    const roundTrips: Record<number, number> = {}
    try {
      for (const count of [3, 12]) {
        const user = newUser('gus')
        const devices = Array.from({ length: count }, (_, i) => deviceOn(counted, `d${i}`))
        const ids: string[] = []
        for (const d of devices) ids.push((await d.get(`/sign-in/${user}`)).id)
        // A third of them end behind the index's back (their records deleted): entries to prune.
        for (const id of ids.slice(0, count / 3)) await redis.del(await recordKeyOf(id))
        writes = 0
        const list = await devices.at(-1)!.get('/list')
        roundTrips[count] = writes
        expect(list).toHaveLength(count - count / 3)
        expect(await redis.hlen(await indexKeyOf(user))).toBe(count - count / 3)
      }
    }
    finally {
      socket.write = write
      await client.quit()
    }
    figure(`listing a user's sessions on RedisSessionStore: ${roundTrips[3]} round trips for 3 sessions, ${roundTrips[12]} for 12`)
    expect(roundTrips).toEqual({ 3: 4, 12: 4 })
  })

  it('revoking everything leaves no entry in the index, and every device anonymous', async () => {
    const user = newUser('carol')
    const devices = ['A', 'B', 'C'].map(ua => deviceOn(server, ua))
    for (const d of devices) await d.get(`/sign-in/${user}`)
    const indexKey = await indexKeyOf(user)
    expect(await redis.hlen(indexKey)).toBe(3)
    await devices[0]!.get('/revoke-all?keep=1')
    expect(await redis.hlen(indexKey)).toBe(1)
    await devices[0]!.get('/revoke-all')
    expect(await redis.hlen(indexKey)).toBe(0)
    expect(await redis.exists(indexKey)).toBe(0)
    for (const d of devices) expect((await d.get('/me')).isNew).toBe(true)
    expect(await devices[0]!.get(`/list-of/${user}`)).toEqual([])
  })

  it('two sign-ins of one user at the same time, from two clients, are both listed (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      const user = newUser('dave')
      const [a, b] = [deviceOn(server, 'A'), deviceOn(server, 'B')]
      const [ra, rb] = await Promise.all([a.fetch(`/sign-in/${user}`), b.fetch(`/sign-in/${user}`)])
      expect([ra.status, rb.status]).toEqual([200, 200])
      const listed = await a.get('/list')
      expect(listed.map((s: any) => s.device).sort()).toEqual(['A', 'B'])
      expect(listed.filter((s: any) => s.current).map((s: any) => s.device)).toEqual(['A'])
      expect(await redis.hlen(await indexKeyOf(user))).toBe(2)
    }
  })

  it('regenerate() of a signed-in session keeps it listed under its new handle; the old handle is gone', async () => {
    const user = newUser('frank')
    const laptop = deviceOn(server, 'Laptop/2.0')
    const other = deviceOn(server, 'Other')
    await laptop.get(`/sign-in/${user}`)
    await other.get(`/sign-in/${user}`)
    const oldCookie = laptop.c.jar.get('sid')!
    const { before, after } = await laptop.get('/regenerate')
    expect(after).not.toBe(before)
    const [oldHandle, newHandle] = [await handleOfId(before), await handleOfId(after)]
    const indexKey = await indexKeyOf(user)
    expect(await redis.hexists(indexKey, oldHandle)).toBe(0)
    expect(await redis.hexists(indexKey, newHandle)).toBe(1)
    expect(await redis.hget(await recordKeyOf(after), '_u')).toBe(user)
    const list = await laptop.get('/list')
    expect(list.map((s: any) => s.handle).sort()).toEqual([newHandle, (await other.get('/list')).find((s: any) => s.current).handle].sort())
    expect(list.find((s: any) => s.current).handle).toBe(newHandle)
    expect(list.some((s: any) => s.handle === oldHandle)).toBe(false)
    // The old cookie names nothing any more; the new one is the signed-in session.
    const replay = new Client(server.url)
    replay.jar.set('sid', oldCookie)
    expect((await replay.json('/me')).isNew).toBe(true)
    expect(await laptop.get('/me')).toMatchObject({ isNew: false, id: after })
  })

  it('regenerate() of a signed-in session keeps its device label', async () => {
    const user = newUser('grace')
    const laptop = deviceOn(server, 'Laptop/2.0')
    await laptop.get(`/sign-in/${user}`)
    expect((await laptop.get('/list'))[0].device).toBe('Laptop/2.0')
    await laptop.get('/regenerate')
    expect((await laptop.get('/list'))[0].device).toBe('Laptop/2.0')
  })

  describe('maxSessionsPerUser: 2', () => {
    let evicting: TestServer
    let refusing: TestServer
    beforeAll(async () => {
      evicting = await start({ maxSessionsPerUser: 2 })
      refusing = await start({ maxSessionsPerUser: 2, sessionLimit: 'refuse' })
    })

    /** Three devices signing in one after the other (distinct createdAt). */
    async function signInThree(on: TestServer, user: string): Promise<{ devices: Device[], statuses: number[] }> {
      const devices = ['first', 'second', 'third'].map(ua => deviceOn(on, ua))
      const statuses: number[] = []
      for (const d of devices) {
        statuses.push((await d.fetch(`/sign-in/${user}`)).status)
        await sleep(5)
      }
      return { devices, statuses }
    }

    it('\'evict-oldest\' (default): a third sign-in ends the oldest session (its cookie is anonymous) and 2 are listed', async () => {
      const user = newUser('ivy')
      const { devices: [first, second, third], statuses } = await signInThree(evicting, user)
      expect(statuses).toEqual([200, 200, 200])
      expect((await first!.get('/me')).isNew).toBe(true)
      expect((await second!.get('/me')).isNew).toBe(false)
      const list = await third!.get('/list')
      expect(list.map((s: any) => s.device)).toEqual(['second', 'third'])
      expect(list.map((s: any) => s.current)).toEqual([false, true])
      expect(await redis.hlen(await indexKeyOf(user))).toBe(2)
    })

    it('\'refuse\': a third sign-in answers 409 (SessionLimitError), changes nothing, and the two sessions still work', async () => {
      const user = newUser('jack')
      const third = deviceOn(refusing, 'third')
      // The third device has an anonymous session of its own: the refused sign-in leaves it alone.
      const { id: anonymousId } = await third.get('/set/cart/3')
      const [first, second] = ['first', 'second'].map(ua => deviceOn(refusing, ua))
      await first!.get(`/sign-in/${user}`)
      await second!.get(`/sign-in/${user}`)
      const refused = await third.fetch(`/sign-in/${user}`)
      expect(refused.status).toBe(409)
      expect(await refused.json()).toMatchObject({ statusCode: 409, statusMessage: 'Too many sessions for this user' })
      expect(await third.get('/me')).toMatchObject({ isNew: false, id: anonymousId, data: { cart: '3' } })
      for (const d of [first!, second!]) expect((await d.get('/me')).isNew).toBe(false)
      expect((await first!.get('/list')).map((s: any) => s.device)).toEqual(['first', 'second'])
      expect(await redis.hlen(await indexKeyOf(user))).toBe(2)
    })

    it('re-signing in the current session does not count against the cap (refuse and evict-oldest)', async () => {
      for (const on of [refusing, evicting]) {
        const user = newUser('kim')
        const [first, second] = ['first', 'second'].map(ua => deviceOn(on, ua))
        await first!.get(`/sign-in/${user}`)
        await second!.get(`/sign-in/${user}`)
        const again = await second!.fetch(`/sign-in/${user}`)
        expect(again.status).toBe(200)
        const { id } = await again.json()
        expect((await first!.get('/me')).isNew).toBe(false)
        const list = await second!.get('/list')
        expect(list.map((s: any) => s.device)).toEqual(['first', 'second'])
        expect(list.find((s: any) => s.current).handle).toBe(await handleOfId(id))
        expect(await redis.hlen(await indexKeyOf(user))).toBe(2)
      }
    })

    it('\'evict-oldest\' ends the session signed in longest ago, not the one whose anonymous visit began first', async () => {
      const user = newUser('lou')
      const [early, second, third] = ['early', 'second', 'third'].map(ua => deviceOn(evicting, ua))
      // `early` browses anonymously first (its session starts now), and signs in only later.
      await early!.get('/set/cart/1')
      await sleep(20)
      await second!.get(`/sign-in/${user}`)
      await sleep(20)
      await early!.get(`/sign-in/${user}`)
      await sleep(20)
      await third!.get(`/sign-in/${user}`)
      // `second` is the oldest sign-in: it is the one to go.
      expect((await second!.get('/me')).isNew).toBe(true)
      expect((await early!.get('/me')).isNew).toBe(false)
      expect((await third!.get('/list')).map((s: any) => s.device)).toEqual(['early', 'third'])
    })

    it('\'refuse\' holds the cap under concurrent sign-ins: of 4 at once, 2 succeed and 2 get a 409', async () => {
      const user = newUser('max')
      const devices = ['d1', 'd2', 'd3', 'd4'].map(ua => deviceOn(refusing, ua))
      const statuses = (await Promise.all(devices.map(d => d.fetch(`/sign-in/${user}`)))).map(r => r.status)
      const alive = (await Promise.all(devices.map(async d => !(await d.get('/me')).isNew))).filter(Boolean).length
      expect({ ok: statuses.filter(s => s === 200).length, alive, listed: (await devices[0]!.get(`/list-of/${user}`)).length })
        .toEqual({ ok: 2, alive: 2, listed: 2 })
    })

    it('\'evict-oldest\' under concurrent sign-ins keeps the cap\'s worth of sessions: of 4 at once, 2 remain (10 rounds)', async () => {
      const rounds: { alive: number, listed: number }[] = []
      for (let round = 0; round < 10; round++) {
        const user = newUser('ned')
        const devices = ['d1', 'd2', 'd3', 'd4'].map(ua => deviceOn(evicting, ua))
        const statuses = (await Promise.all(devices.map(d => d.fetch(`/sign-in/${user}`)))).map(r => r.status)
        expect(statuses).toEqual([200, 200, 200, 200])
        const alive = (await Promise.all(devices.map(async d => !(await d.get('/me')).isNew))).filter(Boolean).length
        rounds.push({ alive, listed: (await devices[0]!.get(`/list-of/${user}`)).length })
      }
      expect(rounds).toEqual(Array.from({ length: 10 }, () => ({ alive: 2, listed: 2 })))
    })
  })
})

describe('[nuxt-server-session] your devices on UnstorageSessionStore (memory driver, injected clock): cap and sweep', () => {
  const clock = testClock()
  const servers: TestServer[] = []
  afterAll(() => Promise.all(servers.map(s => s.close())))

  async function start(extra: Partial<SessionOptions> = {}): Promise<{ server: TestServer, store: UnstorageSessionStore, storage: Storage }> {
    const storage = createStorage()
    const store = new UnstorageSessionStore(storage, { now: () => clock.now, sweepInterval: 0 })
    const server = await devicesServer({ store: store as SessionStore, secret: SECRET, now: () => clock.now, ttl: 100, devices: { userAgent: true }, ...extra })
    servers.push(server)
    return { server, store, storage }
  }
  /** A user's index record as stored: its entries by handle, and the lifetime (s) it keeps. */
  const storedIndex = async (storage: Storage, user: string) => {
    const raw = await storage.getItemRaw(`sess:user:${await userKeyOf(user)}`)
    if (raw == null) return undefined
    const { ttl, ...entries } = JSON.parse(typeof raw === 'string' ? raw : JSON.stringify(raw))
    return { ttl, entries }
  }
  const indexOf = async (storage: Storage, user: string) => (await storedIndex(storage, user))?.entries

  it('\'evict-oldest\': a third sign-in ends the oldest; \'refuse\': it answers 409 and the two still work', async () => {
    const evicting = await start({ maxSessionsPerUser: 2 })
    const [a, b, c] = ['first', 'second', 'third'].map(ua => deviceOn(evicting.server, ua))
    for (const d of [a!, b!, c!]) {
      await d.get('/sign-in/lena')
      clock.tick(1)
    }
    expect((await a!.get('/me')).isNew).toBe(true)
    expect((await c!.get('/list')).map((s: any) => s.device)).toEqual(['second', 'third'])
    expect(Object.keys(await indexOf(evicting.storage, 'lena'))).toHaveLength(2)

    const refusing = await start({ maxSessionsPerUser: 2, sessionLimit: 'refuse' })
    const [d, e, f] = ['first', 'second', 'third'].map(ua => deviceOn(refusing.server, ua))
    await d!.get('/sign-in/lena')
    clock.tick(1)
    await e!.get('/sign-in/lena')
    clock.tick(1)
    expect((await f!.fetch('/sign-in/lena')).status).toBe(409)
    for (const x of [d!, e!]) expect((await x.get('/me')).isNew).toBe(false)
    // Re-signing in the current session is not a new session.
    expect((await e!.fetch('/sign-in/lena')).status).toBe(200)
    expect((await d!.get('/list')).map((s: any) => s.device)).toEqual(['first', 'second'])
  })

  it('entries of expired sessions are dropped when listed', async () => {
    const { server, storage } = await start({ maxSessionsPerUser: 2 })
    const [old, fresh] = [deviceOn(server, 'old'), deviceOn(server, 'fresh')]
    await old.get('/sign-in/mia')
    clock.tick(60)
    await fresh.get('/sign-in/mia')
    clock.tick(60)
    expect(Object.keys(await indexOf(storage, 'mia'))).toHaveLength(2)
    expect((await fresh.get('/list')).map((s: any) => s.device)).toEqual(['fresh'])
    expect(Object.keys(await indexOf(storage, 'mia'))).toHaveLength(1)
    // The expired one no longer counts against the cap either.
    const third = deviceOn(server, 'third')
    await third.get('/sign-in/mia')
    expect((await fresh.get('/me')).isNew).toBe(false)
  })

  it('an index keeps the maxLifetime of the options: written with it, and still with it after a sweep prunes it (real Redis, storage API)', async () => {
    const { host, port } = redisAddress()
    const base = `${PREFIX}-sweep-ttl`
    const driverStorage = createStorage({ driver: redisDriver({ host, port, base }) })
    // Behind a prefixStorage the store stays on the storage API, whose index is one JSON record with a native TTL.
    const storage = prefixStorage(driverStorage, 'app')
    const store = new UnstorageSessionStore(storage, { now: () => clock.now, sweepInterval: 0 })
    const server = await devicesServer({ store: store as SessionStore, secret: SECRET, now: () => clock.now, ttl: 100, maxLifetime: 3600, devices: { userAgent: true } })
    servers.push(server)
    const redis = new Redis({ host, port })
    try {
      const [old, fresh] = [deviceOn(server, 'old'), deviceOn(server, 'fresh')]
      await old.get('/sign-in/pia')
      clock.tick(60)
      await fresh.get('/sign-in/pia')
      clock.tick(60)
      const indexKey = `${base}:app:sess:user:${await userKeyOf('pia')}`
      expect(await storedIndex(storage, 'pia')).toMatchObject({ ttl: 3600 })
      expect(await redis.ttl(indexKey)).toBeGreaterThan(3500)
      await redis.expire(indexKey, 10)
      expect(await store.sweep()).toBe(2)
      const after = await storedIndex(storage, 'pia')
      expect(Object.keys(after!.entries)).toHaveLength(1)
      expect(after!.ttl).toBe(3600)
      const ttl = await redis.ttl(indexKey)
      expect(ttl).toBeGreaterThan(3500)
      expect(ttl).toBeLessThanOrEqual(3600)
    }
    finally {
      const keys = await redis.keys(`${base}:*`)
      if (keys.length) await redis.del(...keys)
      await redis.quit()
      await driverStorage.dispose()
    }
  })

  it('sweep() prunes index entries of expired sessions, keeps live ones, and drops an index left empty', async () => {
    const { server, store, storage } = await start()
    const [old, fresh] = [deviceOn(server, 'old'), deviceOn(server, 'fresh')]
    const { id: oldId } = await old.get('/sign-in/noah')
    const lone = deviceOn(server, 'lone')
    await lone.get('/sign-in/olga')
    clock.tick(60)
    const { id: freshId } = await fresh.get('/sign-in/noah')
    clock.tick(60)
    expect(Object.keys(await indexOf(storage, 'noah'))).toHaveLength(2)
    await store.sweep()
    const index = await indexOf(storage, 'noah')
    expect(Object.keys(index)).toEqual([await handleOfId(freshId)])
    expect(index[await handleOfId(freshId)]).toMatchObject({ key: await storeKeyOf(freshId), label: 'fresh' })
    expect(await storage.hasItem(`sess:${await storeKeyOf(oldId)}`)).toBe(false)
    expect(await storage.hasItem(`sess:${await storeKeyOf(freshId)}`)).toBe(true)
    expect(await indexOf(storage, 'olga')).toBeUndefined()
    expect((await fresh.get('/list')).map((s: any) => s.device)).toEqual(['fresh'])
  })
})
