import { createApp, createError, createRouter, defineEventHandler, getRouterParam, sendRedirect, sendStream } from 'h3'
import type { App } from 'h3'
import { createStorage } from 'unstorage'
import type { Storage } from 'unstorage'
import { UnstorageSessionStore, useSession } from 'nuxt-server-session/h3'
import type { SessionLogger, SessionOptions, SessionStore } from 'nuxt-server-session/h3'

export const SECRET = 'test-secret-that-is-long-enough-0123456789'

/** A logger that keeps every line, to check what the library reports (and never leaks). */
export function recordingLogger(): SessionLogger & { lines: string[] } {
  const lines: string[] = []
  const keep = (message: string, ...details: unknown[]) => {
    lines.push([message, ...details.map(d => (d instanceof Error ? `${d.name}: ${d.message}` : typeof d === 'string' ? d : JSON.stringify(d)))].join(' '))
  }
  return { lines, warn: keep, error: keep }
}

/** A real store that counts the calls made to it, to prove when the store is (not) reached. */
export function countingStore(inner: SessionStore) {
  const calls = { get: 0, set: 0, delete: 0 }
  const store: SessionStore = {
    ttl: inner.ttl,
    get: (key) => {
      calls.get++
      return inner.get(key)
    },
    set: (key, record, write) => {
      calls.set++
      return inner.set(key, record, write)
    },
    delete: (key) => {
      calls.delete++
      return inner.delete(key)
    },
  }
  return { store, calls }
}

/** A mutable clock shared by the session options and the store. */
export function testClock(start = Date.now()) {
  const clock = {
    now: start,
    tick: (seconds: number) => {
      clock.now += seconds * 1000
    },
  }
  return clock
}

/**
 * A bare h3 app with one route per session operation, used by the unit tests over real HTTP.
 * Data is read back as `{ id, isNew, data, createdAt, expiresAt }`.
 */
export function sessionApp(options: Partial<SessionOptions> & { storage?: Storage } = {}): { app: App, options: SessionOptions, store: UnstorageSessionStore, storage: Storage } {
  const storage = options.storage ?? createStorage()
  const store = (options.store as UnstorageSessionStore | undefined) ?? new UnstorageSessionStore(storage, { now: options.now })
  const sessionOptions: SessionOptions = { secret: SECRET, ...options, store }
  const session = (event: Parameters<typeof useSession>[0]) => useSession(event, sessionOptions)
  const view = async (event: Parameters<typeof useSession>[0]) => {
    const s = await session(event)
    return { id: s.id, isNew: s.isNew, data: s.data, createdAt: s.createdAt, expiresAt: s.expiresAt }
  }
  const router = createRouter()
    .get('/read', defineEventHandler(view))
    .get('/never', defineEventHandler(() => ({ ok: true })))
    .get('/inc', defineEventHandler(async (event) => {
      const s = await session(event)
      s.update((d: any) => ({ ...d, n: (d.n ?? 0) + 1 }))
      return view(event)
    }))
    .get('/set/:key/:value', defineEventHandler(async (event) => {
      const s = await session(event)
      s.update({ [getRouterParam(event, 'key')!]: decodeURIComponent(getRouterParam(event, 'value')!) } as any)
      return view(event)
    }))
    .get('/save', defineEventHandler(async (event) => {
      const s = await session(event)
      s.update((d: any) => ({ ...d, saved: true }))
      await s.save()
      return view(event)
    }))
    .get('/destroy', defineEventHandler(async (event) => {
      await (await session(event)).destroy()
      return { ok: true }
    }))
    .get('/regenerate', defineEventHandler(async (event) => {
      const s = await session(event)
      const before = s.id
      await s.regenerate()
      s.update({ user: 'alice' } as any)
      return { before, after: s.id }
    }))
    .get('/touch', defineEventHandler(async (event) => {
      await (await session(event)).touch()
      return view(event)
    }))
    .get('/reload', defineEventHandler(async (event) => {
      const s = await session(event)
      s.update({ unsaved: true } as any)
      await s.reload()
      return view(event)
    }))
    .get('/redirect', defineEventHandler(async (event) => {
      ;(await session(event)).update({ via: 'redirect' } as any)
      return sendRedirect(event, '/read')
    }))
    .get('/fail/:status', defineEventHandler(async (event) => {
      ;(await session(event)).update({ via: `error-${getRouterParam(event, 'status')}` } as any)
      throw createError({ statusCode: Number(getRouterParam(event, 'status')) })
    }))
    .get('/no-content', defineEventHandler(async (event) => {
      ;(await session(event)).update({ via: 'no-content' } as any)
      return null
    }))
    .get('/stream', defineEventHandler(async (event) => {
      ;(await session(event)).update({ via: 'stream' } as any)
      return sendStream(event, new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('chunk-1 '))
          controller.enqueue(new TextEncoder().encode('chunk-2'))
          controller.close()
        },
      }))
    }))
    .get('/big/:bytes', defineEventHandler(async (event) => {
      const s = await session(event)
      s.update({ big: 'x'.repeat(Number(getRouterParam(event, 'bytes'))) } as any)
      try {
        await s.save()
        return { saved: true }
      }
      catch (error) {
        // Drop the rejected change, or the automatic save would try it again.
        await s.reload()
        return { saved: false, code: (error as { code?: string }).code, message: (error as Error).message }
      }
    }))
    .get('/big-auto/:bytes', defineEventHandler(async (event) => {
      ;(await session(event)).update({ big: 'x'.repeat(Number(getRouterParam(event, 'bytes'))) } as any)
      return { ok: true }
    }))
    .get('/bigint', defineEventHandler(async (event) => {
      ;(await session(event)).update({ n: 1n } as any)
      return { ok: true }
    }))
    .get('/optional', defineEventHandler(async (event) => {
      try {
        return { anonymous: false, data: (await session(event)).data }
      }
      catch {
        // A page that shows less when sessions are unavailable, and still answers 200.
        return { anonymous: true }
      }
    }))
    .get('/twice', defineEventHandler(async (event) => {
      const [a, b] = await Promise.all([session(event), session(event)])
      return { same: a === b }
    }))
  return { app: createApp().use(router), options: sessionOptions, store, storage }
}
