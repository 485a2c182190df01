// "Sign out everywhere else": every session of the user but this one ends.
export default defineEventHandler(async (event) => {
  refuseCrossSite(event)
  await revokeServerSessions(event, { keepCurrent: true })
  return sendRedirect(event, '/devices', 303)
})
