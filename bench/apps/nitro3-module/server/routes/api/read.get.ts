import { defineHandler } from 'nitro'
import { useServerSession } from 'nuxt-server-session/server'

// Reads an existing session and changes nothing: one store read, no write.
export default defineHandler(async (event) => {
  const session = await useServerSession(event)
  return { visits: (session.data.visits as number | undefined) ?? 0 }
})
