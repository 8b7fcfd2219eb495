import { useEffect, useState } from 'preact/hooks'
import { api, type TeamOverview } from './api.js'
import { ageOf } from './format.js'
import { Reports } from './reports.js'

/** The supervisor's view: each team's queue depth, oldest waiting case, breaches, and agents' presence and load. */
export function Supervisor(props: { presenceOf: Map<number, string> }) {
  const [teams, setTeams] = useState<TeamOverview[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    const load = () =>
      api.overview().then(
        (o) => (setTeams(o.teams), setError(null)),
        (e: Error) => setError(e.message)
      )
    void load()
    const every = setInterval(load, 15_000)
    return () => clearInterval(every)
  }, [])
  return (
    <main id="main" tabIndex={-1} class="supervisor">
      <h2>Teams</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {teams && (
        <table>
          <caption>Queues and agents, refreshed every 15 seconds</caption>
          <thead>
            <tr>
              <th scope="col">Team</th>
              <th scope="col">Waiting</th>
              <th scope="col">Oldest waiting</th>
              <th scope="col">SLA breaches</th>
              <th scope="col">Agents (presence, open cases of capacity)</th>
            </tr>
          </thead>
          <tbody>
            {teams.map((t) => (
              <tr key={t.id}>
                <th scope="row">{t.name}</th>
                <td>{t.queue_depth}</td>
                <td>{ageOf(t.oldest_waiting_seconds)}</td>
                <td class={t.sla_breached ? 'late' : ''}>{t.sla_breached}</td>
                <td>
                  <ul class="plain">
                    {t.agents.map((a) => (
                      <li key={a.id}>
                        {a.display_name ?? `agent ${a.id}`}: {props.presenceOf.get(a.id) ?? a.presence}, {a.open_cases} of {a.capacity}
                      </li>
                    ))}
                  </ul>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Reports />
    </main>
  )
}
