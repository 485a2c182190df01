import { defineHandler } from 'nitro'
import { useServerSession } from 'nuxt-server-session/server'

// Increments a counter: one store read (with a cookie), one write, a cookie on a first visit.
export default defineHandler(async (event) => {
  const session = await useServerSession(event)
  session.update(data => ({ ...data, visits: ((data.visits as number | undefined) ?? 0) + 1 }))
  return { visits: session.data.visits }
})
