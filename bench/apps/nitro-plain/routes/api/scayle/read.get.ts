import { useScayleSession } from '../../../server-lib/scayle'

export default defineEventHandler(async (event) => {
  const data = await useScayleSession(event)
  return { visits: data.visits ?? 0 }
})
