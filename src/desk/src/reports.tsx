import { useState } from 'preact/hooks'
import { api, type Report, type ReportRow } from './api.js'

const DIMENSIONS = [
  ['council', 'Council'],
  ['service', 'Service'],
  ['channel', 'Channel'],
  ['team', 'Team'],
  ['agent', 'Agent']
] as const

const day = (d: Date) => d.toISOString().slice(0, 10)
const num = (n: number | null, unit = '') => (n === null ? '—' : `${n}${unit}`)

/** The supervisor's report: a date range and a dimension, shown as a table, and downloadable as CSV. */
export function Reports() {
  const today = new Date()
  const [from, setFrom] = useState(day(new Date(today.getTime() - 29 * 86_400_000)))
  const [to, setTo] = useState(day(today))
  const [by, setBy] = useState('council')
  const [report, setReport] = useState<Report | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const run = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      setReport(await api.report(from, to, by))
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    } finally {
      setBusy(false)
    }
  }
  const download = async () => {
    try {
      const csv = await api.reportCsv(from, to, by)
      const link = document.createElement('a')
      link.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }))
      link.download = `switchboard-report-${by}-${from}-${to}.csv`
      link.click()
      URL.revokeObjectURL(link.href)
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    }
  }
  const line = (r: ReportRow, total = false) => (
    <tr key={r.key ?? 'none'} class={total ? 'total' : ''}>
      <th scope="row">{r.label}</th>
      <td>{r.volume}</td>
      <td>{r.resolved}</td>
      <td>{num(r.first_response_median_hours)}</td>
      <td>{num(r.first_response_p90_hours)}</td>
      <td>{num(r.resolution_median_hours)}</td>
      <td>{num(r.resolution_p90_hours)}</td>
      <td>{num(r.sla_met_pct, ' %')}</td>
      <td>{num(r.reopen_rate_pct, ' %')}</td>
      <td>{r.csat_responses ? `${num(r.csat_average)} (${r.csat_responses}; ${num(r.csat_satisfied_pct, ' %')} 4–5)` : '—'}</td>
    </tr>
  )
  return (
    <section aria-labelledby="reports-h" class="reports">
      <h2 id="reports-h">Reports</h2>
      <form class="row wrap" onSubmit={run}>
        <label for="report-from">From</label>
        <input id="report-from" type="date" required value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        <label for="report-to">To</label>
        <input id="report-to" type="date" required value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        <label for="report-by">By</label>
        <select id="report-by" value={by} onChange={(e) => setBy(e.currentTarget.value)}>
          {DIMENSIONS.map(([value, label]) => (
            <option value={value} key={value}>
              {label}
            </option>
          ))}
        </select>
        <button type="submit" disabled={busy}>
          {busy ? 'Working…' : 'Show report'}
        </button>
        <button type="button" onClick={download}>
          Download CSV
        </button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {report && (
        <table>
          <caption>
            Cases opened {report.from.slice(0, 10)} to {to}; times in the council's business hours
          </caption>
          <thead>
            <tr>
              <th scope="col">{DIMENSIONS.find(([v]) => v === report.by)?.[1]}</th>
              <th scope="col">Cases</th>
              <th scope="col">Resolved</th>
              <th scope="col">First response, median (h)</th>
              <th scope="col">First response, 90th percentile (h)</th>
              <th scope="col">Resolution, median (h)</th>
              <th scope="col">Resolution, 90th percentile (h)</th>
              <th scope="col">SLA met</th>
              <th scope="col">Reopened</th>
              <th scope="col">CSAT average (ratings; share 4–5)</th>
            </tr>
          </thead>
          <tbody>
            {report.rows.map((r) => line(r))}
            {line(report.total, true)}
          </tbody>
        </table>
      )}
    </section>
  )
}
