import { useState } from 'preact/hooks'
import { api, ApiError, session } from './api.js'

/** The login form: email and password, one message for any refusal (as the API answers). */
export function Login(props: { onLoggedIn(): void; notice: string | null }) {
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const { token } = await api.login(email.trim(), password)
      session.set(token)
      props.onLoggedIn()
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'The desk could not reach Switchboard. Try again.')
    } finally {
      setBusy(false)
    }
  }
  return (
    <main class="login">
      <h1>Switchboard desk</h1>
      {props.notice && <p class="notice" role="status">{props.notice}</p>}
      <form onSubmit={submit} aria-describedby={error ? 'login-error' : undefined}>
        <label for="email">Email</label>
        <input id="email" type="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        <label for="password">Password</label>
        <input id="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        {error && (
          <p id="login-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  )
}
