// A plain HTML form posts here (application/x-www-form-urlencoded). No password: it only shows
// the session flow.
export default defineEventHandler(async (event) => {
  // Refuse sign-ins posted by other sites (login CSRF): browsers send Origin with form posts.
  const origin = getRequestHeader(event, 'origin')
  if (origin && origin !== getRequestURL(event).origin) {
    throw createError({ statusCode: 403, statusMessage: 'Forbidden', message: 'Cross-site sign-in refused.' })
  }
  const body = await readBody<{ name?: unknown, redirect?: unknown } | undefined>(event)
  const name = typeof body?.name === 'string' ? body.name.trim() : ''
  if (name.length < 1 || name.length > 40) {
    throw createError({ statusCode: 400, statusMessage: 'Bad Request', message: 'The name must be 1 to 40 characters long.' })
  }
  // A new id whenever privileges change, so that an id planted before sign-in is worth nothing;
  // the session is also kept with the user and listed under "Your devices". The name stays in
  // the data for the pages.
  const session = await signInServerSession(event, name)
  session.update({ user: name })
  // Saved automatically before the redirect is sent; back to the page asked for, if it is ours.
  return sendRedirect(event, safeRedirect(body?.redirect) ?? '/account', 303)
})
