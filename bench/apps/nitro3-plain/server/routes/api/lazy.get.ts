import { defineHandler } from 'nitro'

// Never asks for a session.
export default defineHandler(() => ({ ok: true }))
