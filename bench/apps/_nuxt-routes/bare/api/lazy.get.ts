// Never asks for a session.
export default defineEventHandler(() => ({ ok: true }))
