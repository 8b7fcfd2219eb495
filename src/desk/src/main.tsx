import { render } from 'preact'
import { App } from './app.js'
import './desk.css'

render(<App />, document.getElementById('app')!)
