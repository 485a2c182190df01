// What the pages may know about the session. Never the session id: it is the secret the cookie carries.
export default defineEventHandler(async (event) => {
  const session = await useServerSession(event)
  return { user: session.data.user ?? null, visits: session.data.visits ?? 0 }
})
