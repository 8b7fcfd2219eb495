import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError, session, whenUnauthorised, type CaseWhole, type Me, type QueueCase } from './api.js'
import { CaseView } from './case-view.js'
import { connectLive, type Live, type LiveEvent, type Presence } from './live.js'
import { Login } from './login.js'
import { CaseList } from './queues.js'
import { Supervisor } from './supervisor.js'

/** Live events that can move a case into or out of a list (a new message or an SLA warning does not). */
const LIST_EVENTS = new Set(['case.created', 'case.routed', 'case.assigned', 'case.updated'])
const LIST_RELOAD_MS = 2_000

/** Who else is on which case: reference → agent id → 'viewing' | 'replying'. */
export type Viewers = Map<string, Map<number, string>>

export function App() {
  const [token, setToken] = useState(session.token)
  const [notice, setNotice] = useState<string | null>(null)
  useEffect(
    () =>
      whenUnauthorised(() => {
        session.clear()
        setToken(null)
        setNotice('Your session ended. Log in again.')
      }),
    []
  )
  if (!token) return <Login notice={notice} onLoggedIn={() => (setNotice(null), setToken(session.token))} />
  return (
    <Desk
      token={token}
      onLogout={() => {
        session.clear()
        setToken(null)
      }}
    />
  )
}

function Desk(props: { token: string; onLogout(): void }) {
  const [me, setMe] = useState<Me | null>(null)
  const [view, setView] = useState<'work' | 'supervisor'>('work')
  const [mine, setMine] = useState<QueueCase[]>([])
  const [queue, setQueue] = useState<QueueCase[]>([])
  const [team, setTeam] = useState<number | null>(null)
  const [openRef, setOpenRef] = useState<string | null>(null)
  const [openCase, setOpenCase] = useState<CaseWhole | null>(null)
  const [presence, setPresence] = useState<Presence>('online')
  const [presenceOf, setPresenceOf] = useState(new Map<number, string>())
  const [viewers, setViewers] = useState<Viewers>(new Map())
  const [announcement, setAnnouncement] = useState('')
  const [connected, setConnected] = useState(false)
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null)
  const [findRef, setFindRef] = useState('')
  const live = useRef<Live | null>(null)
  const openRefNow = useRef<string | null>(null)
  openRefNow.current = openRef
  const saidReplying = useRef({ ref: '', at: 0 })
  const teamNow = useRef<number | null>(null)
  teamNow.current = team

  const loadLists = useCallback(async () => {
    const [m, q] = await Promise.all([api.mine(), api.queue(teamNow.current)])
    setMine(m.cases)
    setQueue(q.cases)
  }, [])
  const loadCase = useCallback(async (ref: string) => {
    try {
      const c = await api.case(ref)
      if (openRefNow.current === ref) setOpenCase(c)
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setOpenCase(null)
      else throw err
    }
  }, [])

  // The lists are reloaded at most every 2 s however many events come (a desk is one of
  // hundreds, each reloading would be their load on the API), and never left stale: an
  // event while a reload is due joins it.
  const reloadTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const lastLoad = useRef(0)
  const reloadSoon = useCallback(() => {
    if (reloadTimer.current) return
    reloadTimer.current = setTimeout(() => {
      reloadTimer.current = undefined
      lastLoad.current = Date.now()
      void loadLists().catch(() => {})
    }, Math.max(0, lastLoad.current + LIST_RELOAD_MS - Date.now()))
  }, [loadLists])

  useEffect(() => {
    void api.me().then((m) => {
      setMe(m)
      setPresenceOf(new Map(m.colleagues.map((c) => [c.id, c.presence])))
    })
    const onEvent = (e: LiveEvent) => {
      if (e.type === 'presence') {
        const p = String(e.detail?.presence ?? 'offline')
        setPresenceOf((prev) => new Map(prev).set(e.agent_id!, p))
        return
      }
      if (e.type === 'case.viewers') {
        const ref = String(e.detail?.reference ?? '')
        const activity = String(e.detail?.activity ?? '')
        setViewers((prev) => {
          const next = new Map(prev)
          const on = new Map(next.get(ref) ?? [])
          if (activity === 'left') on.delete(e.agent_id!)
          else on.set(e.agent_id!, activity)
          next.set(ref, on)
          return next
        })
        return
      }
      if (e.type === 'case.created') setAnnouncement(`New case ${e.case.reference} in the queue`)
      else if (e.type === 'message.created' && e.case.reference === openRefNow.current) setAnnouncement(`New message on ${e.case.reference}`)
      if (LIST_EVENTS.has(e.type)) reloadSoon()
      if (e.case.reference && e.case.reference === openRefNow.current) void loadCase(e.case.reference).catch(() => {})
    }
    live.current = connectLive(props.token, {
      onEvent,
      onOpen: () => {
        void loadLists().catch(() => {})
        if (openRefNow.current) void loadCase(openRefNow.current).catch(() => {})
      },
      onState: setConnected,
      onUnauthorised: () => props.onLogout()
    })
    return () => live.current?.close()
  }, [props.token])

  useEffect(() => void loadLists().catch(() => {}), [team])

  const open = (ref: string) => {
    if (openRefNow.current && openRefNow.current !== ref) live.current?.say({ type: 'left', reference: openRefNow.current })
    setOpenRef(ref)
    setOpenCase(null)
    setView('work')
    live.current?.say({ type: 'viewing', reference: ref })
    void loadCase(ref).catch((err: Error) => setMessage({ text: err.message, error: true }))
  }

  /** Runs an action on the open case, says how it went, and reloads what it changed. */
  const act = async (what: string, fn: () => Promise<unknown>): Promise<boolean> => {
    setMessage(null)
    try {
      await fn()
      setMessage({ text: what, error: false })
      if (openRefNow.current) await loadCase(openRefNow.current)
      await loadLists()
      return true
    } catch (err) {
      setMessage({ text: err instanceof Error ? err.message : String(err), error: true })
      return false
    }
  }

  const takeNext = async () => {
    setMessage(null)
    try {
      const next = await api.next()
      if (!next) return setMessage({ text: 'The queue is empty.', error: false })
      await loadLists()
      open(next.reference)
    } catch (err) {
      setMessage({ text: err instanceof Error ? err.message : String(err), error: true })
    }
  }

  const name = (id: number | null) => {
    if (id === null) return 'nobody'
    if (id === me?.me.id) return 'you'
    const c = me?.colleagues.find((x) => x.id === id)
    return c?.display_name ?? `agent ${id}`
  }
  const supervisor = me && me.me.role !== 'agent'

  return (
    <div class="desk">
      <a class="skip" href="#main">
        Skip to the case
      </a>
      <header class="bar">
        <h1>Switchboard desk</h1>
        <nav aria-label="Views">
          <button type="button" aria-pressed={view === 'work'} onClick={() => setView('work')}>
            Cases
          </button>
          {supervisor && (
            <button type="button" aria-pressed={view === 'supervisor'} onClick={() => setView('supervisor')}>
              Supervisor
            </button>
          )}
        </nav>
        <span class={connected ? 'conn ok' : 'conn down'} role="status">
          {connected ? 'Live' : 'Reconnecting…'}
        </span>
        <label for="presence">Status</label>
        <select
          id="presence"
          value={presence}
          onChange={(e) => {
            const p = e.currentTarget.value as Presence
            setPresence(p)
            live.current?.setPresence(p)
          }}
        >
          <option value="online">Online</option>
          <option value="away">Away</option>
        </select>
        <span class="who">{me?.me.display_name ?? me?.me.email}</span>
        <button type="button" onClick={props.onLogout}>
          Log out
        </button>
      </header>
      <div class="sr-only" aria-live="polite" aria-atomic="true" data-testid="announcer">
        {announcement}
      </div>
      {view === 'supervisor' && supervisor ? (
        <Supervisor presenceOf={presenceOf} />
      ) : (
        <div class="work">
          <aside class="lists" aria-label="Case lists">
            <button type="button" class="primary" onClick={takeNext}>
              Next case
            </button>
            <form
              class="find"
              onSubmit={(e) => {
                e.preventDefault()
                const ref = findRef.trim().toUpperCase()
                if (ref) open(ref)
              }}
            >
              <label for="find-ref">Open case by reference</label>
              <input id="find-ref" placeholder="SB-…" value={findRef} onInput={(e) => setFindRef(e.currentTarget.value)} />
              <button type="submit">Open</button>
            </form>
            <CaseList title="My cases" id="mine" cases={mine} openRef={openRef} onOpen={open} />
            <div class="team-filter">
              <label for="team">Queue of</label>
              <select id="team" value={team ?? ''} onChange={(e) => setTeam(e.currentTarget.value ? Number(e.currentTarget.value) : null)}>
                <option value="">All teams</option>
                {me?.teams.map((t) => (
                  <option value={t.id} key={t.id}>
                    {t.name}
                  </option>
                ))}
              </select>
            </div>
            <CaseList title="Team queue" id="queue" cases={queue} openRef={openRef} onOpen={open} />
            <section aria-labelledby="colleagues-h" class="colleagues">
              <h2 id="colleagues-h">Colleagues</h2>
              <ul>
                {me?.colleagues.map((c) => (
                  <li key={c.id}>
                    <span class={`dot ${presenceOf.get(c.id) ?? c.presence}`} aria-hidden="true" />
                    {c.display_name ?? `agent ${c.id}`}: {presenceOf.get(c.id) ?? c.presence}
                  </li>
                ))}
              </ul>
            </section>
          </aside>
          <main id="main" tabIndex={-1} class="case-pane">
            {message && (
              <p class={message.error ? 'error' : 'notice'} role={message.error ? 'alert' : 'status'}>
                {message.text}
              </p>
            )}
            {openRef && openCase ? (
              <CaseView
                c={openCase}
                me={me}
                name={name}
                others={[...(viewers.get(openCase.reference) ?? [])].filter(([id]) => id !== me?.me.id)}
                act={act}
                typing={() => {
                  // once per case every 10 s at most: the socket allows 2 messages a second
                  const now = Date.now()
                  if (saidReplying.current.ref === openCase.reference && now - saidReplying.current.at < 10_000) return
                  saidReplying.current = { ref: openCase.reference, at: now }
                  live.current?.say({ type: 'replying', reference: openCase.reference })
                }}
              />
            ) : (
              <p class="empty">{openRef ? 'Loading…' : 'Choose a case from a list, or take the next case.'}</p>
            )}
          </main>
        </div>
      )}
    </div>
  )
}
