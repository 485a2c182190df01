// Never asks for the session.
export default defineEventHandler(() => ({ ok: true }))
