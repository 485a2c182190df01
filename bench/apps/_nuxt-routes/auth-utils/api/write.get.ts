// nuxt-auth-utils: a write re-seals the whole session into a new cookie.
export default defineEventHandler(async (event) => {
  const session = await getUserSession(event)
  const visits = (((session as { visits?: number }).visits) ?? 0) + 1
  await setUserSession(event, { visits } as Parameters<typeof setUserSession>[1])
  return { visits }
})
