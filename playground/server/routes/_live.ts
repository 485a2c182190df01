// The live page's socket: only for a signed-in user (a 401 otherwise). It closes by itself when
// the session ends: signed out here, or from "Your devices" in another browser.
export default defineWebSocketHandler(sessionWebSocket<{ user?: string }>({
  signedIn: true,
  open(peer, session) {
    peer.send(`Connected as ${session.data.user ?? session.userId}`)
  },
  message(peer, message, session) {
    peer.send(`${session.data.user ?? session.userId}: ${String((message as { text?: () => string }).text?.() ?? message)}`)
  },
}))
