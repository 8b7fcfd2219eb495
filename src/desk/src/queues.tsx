import type { QueueCase } from './api.js'
import { statusLabel } from './api.js'
import { untilOrAgo } from './format.js'

/** A list of cases, each a button that opens it; the open one is marked as current. */
export function CaseList(props: { title: string; id: string; cases: QueueCase[]; openRef: string | null; onOpen(ref: string): void }) {
  const { title, id, cases } = props
  return (
    <section aria-labelledby={`${id}-h`} class="case-list">
      <h2 id={`${id}-h`}>
        {title} <span class="count">({cases.length})</span>
      </h2>
      {cases.length === 0 ? (
        <p class="empty">None.</p>
      ) : (
        <ul data-testid={`${id}-list`}>
          {cases.map((c) => (
            <li key={c.reference}>
              <button type="button" class="case-item" aria-current={c.reference === props.openRef ? 'true' : undefined} onClick={() => props.onOpen(c.reference)}>
                <span class="ref">{c.reference}</span>
                <span class={`prio ${c.priority}`}>{c.priority}</span>
                <span class="chan">{c.channel}</span>
                <span class="status">{statusLabel(c.work_status)}</span>
                <span class="desc">{c.description.slice(0, 90)}</span>
                <span class={c.sla_due_at && new Date(c.sla_due_at).getTime() < Date.now() ? 'sla late' : 'sla'}>{untilOrAgo(c.sla_due_at)}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}
