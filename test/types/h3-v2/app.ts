// The seed's usage on h3 2, type-checked with `h3` resolving to h3 2.0.8.
import { H3, defineHandler } from 'h3'
import type { H3Event } from 'h3'
import { createStorage } from 'unstorage'
import { listSessions, sessionAutoSave, signInSession, UnstorageSessionStore, useSession } from 'nuxt-server-session/h3'
import type { ServerSession, UserSession } from 'nuxt-server-session/h3'

declare module 'nuxt-server-session' {
  interface SessionData {
    visits?: number
  }
}

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
const assert = <T extends true>(_: T) => {}

const store = new UnstorageSessionStore(createStorage(), { prefix: 'sess' })
const app = new H3()
app.use(sessionAutoSave())

app.get('/', defineHandler(async (event) => {
  await useSession(event, { store, secret: 'a-secret-of-at-least-32-characters!!' })
  const session = event.context.sessionHandler
  assert<Equal<typeof session, ServerSession>>(true)
  assert<Equal<typeof session.data.visits, number | undefined>>(true)
  session.update(data => ({ ...data, visits: (data.visits || 0) + 1 }))
  // @ts-expect-error values of the wrong type are refused
  session.update({ visits: 'many' })
  await session.save()
  return { visits: session.data.visits }
}))

export async function devices(event: H3Event): Promise<UserSession[]> {
  const isSession = (session: ServerSession) => session.id
  isSession(await signInSession(event, 'user-1'))
  return listSessions(event)
}

// @ts-expect-error an event is needed
useSession({ notAnEvent: true }, { store, secret: 'x' })

export default app
