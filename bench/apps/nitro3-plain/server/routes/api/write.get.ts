import { defineHandler } from 'nitro'

// The bare equivalent of a session write: a counter in process memory, no session.
let visits = 0
export default defineHandler(() => ({ visits: ++visits }))
