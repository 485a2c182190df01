import type { H3Event } from 'h3'
import { describe, expectTypeOf, it } from 'vitest'
import { useSession } from 'nuxt-server-session/h3'
import type { ServerSession, SessionData as H3SessionData } from 'nuxt-server-session/h3'
import type { SessionData } from 'nuxt-server-session'
import { requireServerSession, useServerSession } from '../src/runtime/server/nitro/utils'

declare module 'nuxt-server-session' {
  interface SessionData {
    userId?: string
    visits?: number
  }
  interface SessionDataT {
    isAuthenticated?: boolean
  }
}

declare const event: H3Event

describe('[nuxt-server-session] types', () => {
  it('augmenting SessionData and the seed\'s SessionDataT through the root types the h3 entry too', () => {
    expectTypeOf<H3SessionData>().toEqualTypeOf<SessionData>()
    expectTypeOf<SessionData['userId']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<SessionData['isAuthenticated']>().toEqualTypeOf<boolean | undefined>()
  })

  it('types data, set and update from the augmentation', async () => {
    const session = await useSession(event, {} as never)
    expectTypeOf(session.data.visits).toEqualTypeOf<number | undefined>()
    expectTypeOf(session.data.isAuthenticated).toEqualTypeOf<boolean | undefined>()
    expectTypeOf(session.set).parameter(0).toEqualTypeOf<SessionData>()
    session.update(data => ({ ...data, visits: (data.visits || 0) + 1 }))
    session.update({ userId: 'u1' })
    // @ts-expect-error unknown keys are refused
    session.update({ nope: 1 })
    // @ts-expect-error values of the wrong type are refused
    session.set({ visits: 'many' })
    // @ts-expect-error data is read-only
    session.data.visits = 2
  })

  it('types event.context.sessionHandler as the session, never any', () => {
    expectTypeOf(event.context.sessionHandler).toEqualTypeOf<ServerSession>()
    expectTypeOf(event.context.sessionHandler).not.toBeAny()
    expectTypeOf(event.context.sessionHandler.data.userId).toEqualTypeOf<string | undefined>()
  })

  it('types the promise-based members', () => {
    expectTypeOf<ServerSession['save']>().returns.toEqualTypeOf<Promise<void>>()
    expectTypeOf<ServerSession['regenerate']>().returns.toEqualTypeOf<Promise<void>>()
    expectTypeOf<ServerSession['id']>().toEqualTypeOf<string>()
    expectTypeOf<ServerSession['expiresAt']>().toEqualTypeOf<number>()
  })

  it('requireServerSession narrows userId to a string; useServerSession leaves it optional', async () => {
    expectTypeOf((await requireServerSession(event)).userId).toEqualTypeOf<string>()
    expectTypeOf((await useServerSession(event)).userId).toEqualTypeOf<string | undefined>()
    expectTypeOf((await requireServerSession(event)).data.visits).toEqualTypeOf<number | undefined>()
  })
})
