// nuxt-auth-utils: the session is sealed into the cookie itself (h3 useSession).
export default defineEventHandler(async (event) => {
  const session = await getUserSession(event)
  return { visits: ((session as { visits?: number }).visits) ?? 0 }
})
