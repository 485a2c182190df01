export default defineEventHandler(async (event) => {
  const session = await useServerSession(event)
  // Deletes the stored session and expires the cookie.
  await session.destroy()
  return sendRedirect(event, '/', 303)
})
