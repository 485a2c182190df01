// The bare equivalent of a session read: the same response, no session.
export default defineEventHandler(() => ({ visits: 0 }))
