import { defineHandler } from 'nitro'

// The bare equivalent of a session read: the same response, no session.
export default defineHandler(() => ({ visits: 0 }))
