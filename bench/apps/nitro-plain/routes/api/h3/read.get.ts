import { useH3Session } from '../../../server-lib/h3-session'

export default defineEventHandler(async (event) => {
  const session = await useH3Session(event)
  return { visits: session.data.visits ?? 0 }
})
