import { defineHandler } from 'nitro'

// Never asks for the session: the module's plugin is mounted, nothing else happens.
export default defineHandler(() => ({ ok: true }))
