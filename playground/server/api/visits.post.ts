// The first write starts the session and sets the cookie; it is saved before the response leaves.
export default defineEventHandler(async (event) => {
  const session = await useServerSession(event)
  session.update(data => ({ ...data, visits: (data.visits ?? 0) + 1 }))
  return { visits: session.data.visits ?? 0 }
})
