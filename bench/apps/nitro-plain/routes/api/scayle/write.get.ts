import { useScayleSession } from '../../../server-lib/scayle'

export default defineEventHandler(async (event) => {
  const data = await useScayleSession(event)
  data.visits = (data.visits ?? 0) + 1
  // @scayle/h3-session does not save by itself.
  await event.context.session.save()
  return { visits: data.visits }
})
