import { useEffect, useRef, useState } from 'preact/hooks'
import { api, NEXT_STATUSES, statusLabel, type CannedFilled, type CaseWhole, type Me } from './api.js'
import { formatWhen, untilOrAgo } from './format.js'

interface Props {
  c: CaseWhole
  me: Me | null
  name(id: number | null): string
  /** colleagues on this case now: [agent id, 'viewing' | 'replying'] */
  others: Array<[number, string]>
  act(what: string, fn: () => Promise<unknown>): Promise<boolean>
  /** the agent is typing a reply: colleagues are told (the server repeats it at most every 30 s) */
  typing(): void
}

/** One case: who and what, SLA clocks, the actions on it, then its messages and its history. */
export function CaseView({ c, me, name, others, act, typing }: Props) {
  const mineNow = c.assigned_agent_id !== null && c.assigned_agent_id === me?.me.id
  const replyBy = c.channel === 'email' ? 'email' : 'SMS'
  return (
    <article aria-labelledby="case-h" class="case">
      <h2 id="case-h">
        {c.reference} <span class="status-pill">{statusLabel(c.work_status)}</span>
      </h2>
      {others.length > 0 && (
        <p class="collision" role="status">
          {others.map(([id, activity]) => `${name(id)} is ${activity === 'replying' ? 'replying to' : 'viewing'} this case`).join('; ')}
        </p>
      )}
      <dl class="facts">
        <dt>Resident</dt>
        <dd>
          {c.resident.name ?? 'Name not given'}
          {c.resident.phone ? `, ${c.resident.phone}` : ''}
          {c.resident.email ? `, ${c.resident.email}` : ''}
        </dd>
        <dt>Came by</dt>
        <dd>{c.channel}</dd>
        <dt>Council</dt>
        <dd>{c.council_name ?? (c.status === 'triage' ? 'not known yet (in triage)' : 'not placed yet')}</dd>
        <dt>Service</dt>
        <dd>{c.service_name ?? c.service_code ?? 'not known'}</dd>
        <dt>Priority</dt>
        <dd>{c.priority}</dd>
        <dt>Held by</dt>
        <dd>{name(c.assigned_agent_id)}</dd>
        {c.merged_into_reference && (
          <>
            <dt>Merged into</dt>
            <dd>{c.merged_into_reference}</dd>
          </>
        )}
      </dl>
      <section aria-labelledby="sla-h" class="sla-clocks">
        <h3 id="sla-h">SLA clocks</h3>
        <ul class="plain">
          <li>
            First response:{' '}
            {c.first_response_at
              ? `given ${formatWhen(c.first_response_at)}`
              : c.first_response_breached_at
                ? `breached ${formatWhen(c.first_response_breached_at)}`
                : untilOrAgo(c.first_response_due_at)}
          </li>
          <li>
            Resolution:{' '}
            {c.work_status === 'resolved' || c.work_status === 'closed'
              ? 'stopped (resolved)'
              : c.resolution_breached_at
                ? `breached ${formatWhen(c.resolution_breached_at)}`
                : c.resolution_paused_at
                  ? `paused while waiting on the resident (since ${formatWhen(c.resolution_paused_at)})`
                  : untilOrAgo(c.resolution_due_at ?? c.sla_due_at)}
          </li>
        </ul>
      </section>
      <Actions c={c} me={me} mineNow={mineNow} act={act} />
      {mineNow && (
        <>
          <TextForm
            id="reply"
            label={`Reply to the resident by ${replyBy}`}
            button="Send reply"
            onInput={typing}
            canned={c.reference}
            submit={(body) => act('Reply queued to send', () => api.reply(c.reference, body))}
          />
          <TextForm id="note" label="Internal note (never sent to the resident or the council)" button="Add note" submit={(body) => act('Note added', () => api.note(c.reference, body))} />
        </>
      )}
      <section aria-labelledby="messages-h">
        <h3 id="messages-h">Messages</h3>
        <ol class="messages" data-testid="messages">
          {c.messages.map((m) => (
            <li key={m.id} class={m.direction}>
              <p class="meta">
                {m.direction === 'inbound' ? 'From the resident' : `To the resident${m.author ? `, by ${m.author}` : ''}`} by {m.channel}, {formatWhen(m.created_at)}
                {m.status ? ` (${m.status})` : ''}
              </p>
              {m.subject && <p class="subject">{m.subject}</p>}
              <p class="body">{m.body}</p>
            </li>
          ))}
        </ol>
      </section>
      <section aria-labelledby="events-h">
        <h3 id="events-h">History</h3>
        <ol class="events">
          {c.events.map((e) => (
            <li key={e.id}>
              <span class="when">{formatWhen(e.created_at)}</span> <span class="type">{e.type}</span> <span class="actor">({e.actor})</span>
              {e.reason ? `: ${e.reason}` : ''}
            </li>
          ))}
        </ol>
      </section>
    </article>
  )
}

function Actions({ c, me, mineNow, act }: { c: CaseWhole; me: Me | null; mineNow: boolean; act: Props['act'] }) {
  const [status, setStatus] = useState('')
  const [to, setTo] = useState('')
  const [reason, setReason] = useState('')
  const [into, setInto] = useState('')
  const [mergeReason, setMergeReason] = useState('')
  const next = NEXT_STATUSES[c.work_status] ?? []
  const supervisor = me?.me.role !== 'agent'
  return (
    <section aria-labelledby="actions-h" class="actions">
      <h3 id="actions-h">Actions</h3>
      <div class="row">
        {c.assigned_agent_id === null && (
          <button type="button" class="primary" onClick={() => act(`You hold ${c.reference}`, () => api.claim(c.reference))}>
            Claim
          </button>
        )}
        {(mineNow || (supervisor && c.assigned_agent_id !== null)) && (
          <button type="button" onClick={() => act(`${c.reference} is back in the queue`, () => api.release(c.reference))}>
            Release to queue
          </button>
        )}
      </div>
      {(mineNow || supervisor) && next.length > 0 && (
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault()
            if (status) void act(`Now ${statusLabel(status)}`, () => api.status(c.reference, status)).then((ok) => ok && setStatus(''))
          }}
        >
          <label for="work-status">Move to</label>
          <select id="work-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">Choose a status</option>
            {next.map((s) => (
              <option value={s} key={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
          <button type="submit" disabled={!status}>
            Set status
          </button>
        </form>
      )}
      {(mineNow || supervisor) && (
        <form
          class="row wrap"
          onSubmit={(e) => {
            e.preventDefault()
            const [kind, id] = to.split(':')
            const target = kind === 'team' ? { team_id: Number(id) } : { agent_id: Number(id) }
            void act(`Transferred`, () => api.transfer(c.reference, target, reason.trim())).then((ok) => ok && (setTo(''), setReason('')))
          }}
        >
          <label for="transfer-to">Transfer to</label>
          <select id="transfer-to" value={to} required onChange={(e) => setTo(e.currentTarget.value)}>
            <option value="">Choose</option>
            <optgroup label="Teams">
              {me?.teams.map((t) => (
                <option value={`team:${t.id}`} key={`t${t.id}`}>
                  {t.name}
                </option>
              ))}
            </optgroup>
            <optgroup label="Colleagues">
              {me?.colleagues.map((a) => (
                <option value={`agent:${a.id}`} key={`a${a.id}`}>
                  {a.display_name ?? `agent ${a.id}`} ({a.presence})
                </option>
              ))}
            </optgroup>
          </select>
          <label for="transfer-reason">Reason</label>
          <input id="transfer-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          <button type="submit">Transfer</button>
        </form>
      )}
      {(mineNow || supervisor) && (
        <form
          class="row wrap"
          onSubmit={(e) => {
            e.preventDefault()
            void act(`Merged into ${into.trim().toUpperCase()}`, () => api.merge(c.reference, into.trim().toUpperCase(), mergeReason.trim())).then(
              (ok) => ok && (setInto(''), setMergeReason(''))
            )
          }}
        >
          <label for="merge-into">Merge into case</label>
          <input id="merge-into" required placeholder="SB-…" value={into} onInput={(e) => setInto(e.currentTarget.value)} />
          <label for="merge-reason">Reason</label>
          <input id="merge-reason" required maxLength={500} value={mergeReason} onInput={(e) => setMergeReason(e.currentTarget.value)} />
          <button type="submit">Merge</button>
        </form>
      )}
    </section>
  )
}

function TextForm(props: { id: string; label: string; button: string; submit(body: string): Promise<boolean>; onInput?(): void; canned?: string }) {
  const [body, setBody] = useState('')
  const [busy, setBusy] = useState(false)
  const [canned, setCanned] = useState<CannedFilled[]>([])
  const [missing, setMissing] = useState<string[]>([])
  const area = useRef<HTMLTextAreaElement>(null)
  useEffect(() => {
    setCanned([])
    if (props.canned) void api.canned(props.canned).then((r) => setCanned(r.replies), () => setCanned([]))
  }, [props.canned])
  return (
    <form
      class="text-form"
      onSubmit={async (e) => {
        e.preventDefault()
        if (!body.trim()) return
        setBusy(true)
        const ok = await props.submit(body.trim())
        setBusy(false)
        if (ok) (setBody(''), setMissing([]))
        area.current?.focus()
      }}
    >
      {canned.length > 0 && (
        <div class="row">
          <label for={`${props.id}-canned`}>Canned reply</label>
          <select
            id={`${props.id}-canned`}
            value=""
            onChange={(e) => {
              const chosen = canned.find((k) => String(k.id) === e.currentTarget.value)
              if (!chosen) return
              setBody(chosen.text)
              setMissing(chosen.missing)
              area.current?.focus()
            }}
          >
            <option value="">Choose one to start from</option>
            {canned.map((k) => (
              <option value={k.id} key={k.id}>
                {k.title}
              </option>
            ))}
          </select>
        </div>
      )}
      {missing.length > 0 && (
        <p class="error" role="status">
          Not known for this case, left blank: {missing.join(', ')}. Complete the text before sending.
        </p>
      )}
      <label for={props.id}>{props.label}</label>
      <textarea
        id={props.id}
        ref={area}
        rows={3}
        maxLength={1600}
        value={body}
        onInput={(e) => {
          setBody(e.currentTarget.value)
          props.onInput?.()
        }}
      />
      <button type="submit" disabled={busy || !body.trim()}>
        {props.button}
      </button>
    </form>
  )
}
