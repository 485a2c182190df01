import { defineComponent } from 'vue'
import { useSessionState } from '../composables/session'

/**
 * `<SessionState v-slot="{ loggedIn, data, clear }">`: its default slot once the state is known;
 * until then (a prerendered or cached page, whose state the browser loads) the `placeholder`
 * slot, so that no visitor's state is ever rendered into a shared page.
 */
export default defineComponent({
  name: 'SessionState',
  setup(_, { slots }) {
    const session = useSessionState()
    return () => session.ready.value
      ? slots.default?.({ loggedIn: session.loggedIn.value, data: session.data.value, clear: session.clear, refresh: session.refresh })
      : slots.placeholder?.()
  },
})
