// "Your devices": the signed-in user's live sessions. Each entry has a handle that names it for
// revoking, its times, `current` for this browser, and the browser's user agent (opted in with
// `session.devices.userAgent`). Never a session id.
export default defineEventHandler(async (event) => {
  const session = await useServerSession(event)
  if (!session.userId) throw createError({ statusCode: 401, statusMessage: 'Unauthorized', message: 'Sign in first.' })
  return { user: session.data.user ?? session.userId, sessions: await listServerSessions(event) }
})
