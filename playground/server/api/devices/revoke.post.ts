// Signs one of the user's other devices out (a plain form posts the handle). Only the user's own
// sessions can be named: a handle of someone else's session is ignored.
export default defineEventHandler(async (event) => {
  refuseCrossSite(event)
  const body = await readBody<{ handle?: unknown } | undefined>(event)
  const handle = typeof body?.handle === 'string' ? body.handle : ''
  if (!/^[\da-f]{24}$/.test(handle)) {
    throw createError({ statusCode: 400, statusMessage: 'Bad Request', message: 'Which device? The handle is missing or malformed.' })
  }
  // The revoked session's record is deleted: its cookie is anonymous on its next request.
  await revokeServerSession(event, handle)
  return sendRedirect(event, '/devices', 303)
})
