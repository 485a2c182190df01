// "Your devices": the signed-in user's live sessions. Each entry has a handle that names it for
// revoking, its times, `current` for this browser, and the browser's user agent (opted in with
// `session.devices.userAgent`). Never a session id.
export default defineEventHandler(async (event) => {
  // A 401 for anyone not signed in.
  const session = await requireServerSession(event)
  return { user: session.data.user ?? session.userId, sessions: await listServerSessions(event) }
})
