// Reads an existing session and changes nothing: one store read, no write.
export default defineEventHandler(async (event) => {
  const session = await useServerSession(event)
  return { visits: (session.data.visits as number | undefined) ?? 0 }
})
