import { Tokenizer, type TokenizerCallbacks } from 'htmlparser2'
import { sanitiseHtml } from './html.js'

/** Longer HTML is not sanitised (5 MB: a newsletter is a few hundred kB, images included). */
export const MAX_HTML_CHARS = 5_000_000
/** Deeper nesting is not sanitised: browsers stop nesting at 512 too (the HTML parsers of Chromium and WebKit). */
export const MAX_HTML_DEPTH = 512

export type SafeHtmlState = 'sanitised' | 'too_big' | 'too_deep' | 'timed_out' | 'failed'
export type SafeHtml = { state: 'sanitised'; html: string } | { state: Exclude<SafeHtmlState, 'sanitised'> }

/**
 * sanitiseHtml within bounds. htmlparser2, under sanitize-html, keeps its open elements in
 * an array it shifts and unshifts, so its time grows with the square of the nesting: a
 * <div> nested 200,000 deep took half a minute. The nesting is measured first, with
 * htmlparser2's own tokenizer (linear), and HTML too long or too deep is refused.
 */
export function sanitiseBounded(html: string): SafeHtml {
  if (html.length > MAX_HTML_CHARS) return { state: 'too_big' }
  if (nestingExceeds(html, MAX_HTML_DEPTH)) return { state: 'too_deep' }
  return { state: 'sanitised', html: sanitiseHtml(html) }
}

const VOID = new Set(['area', 'base', 'basefont', 'br', 'col', 'command', 'embed', 'frame', 'hr', 'img', 'input', 'isindex', 'keygen', 'link', 'meta', 'param', 'source', 'track', 'wbr'])
// elements whose end tag may be left out, closed by what opens after them (as htmlparser2 does)
const P = new Set(['p'])
const BLOCKS_CLOSING_P = ['address', 'article', 'aside', 'blockquote', 'details', 'div', 'dl', 'fieldset', 'figcaption', 'figure', 'footer', 'form', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'main', 'nav', 'ol', 'p', 'pre', 'section', 'table', 'ul']
const IMPLIED_CLOSE = new Map<string, Set<string>>([
  ...BLOCKS_CLOSING_P.map((tag) => [tag, P] as const),
  ['li', new Set(['li'])],
  ['dd', new Set(['dd', 'dt'])],
  ['dt', new Set(['dd', 'dt'])],
  ['tr', new Set(['tr', 'th', 'td'])],
  ['td', new Set(['thead', 'th', 'td'])],
  ['th', new Set(['th'])],
  ['option', new Set(['option'])],
  ['optgroup', new Set(['optgroup', 'option'])]
])

const TOO_DEEP = Symbol('too deep')

/**
 * Whether the elements nest deeper than `limit`, counted as htmlparser2 would keep them open
 * (or deeper: only its common implied closes are followed). Stops at the first element
 * past the limit, so a bomb costs no more than its first few kilobytes.
 */
export function nestingExceeds(html: string, limit: number): boolean {
  const stack: string[] = []
  const open = new Map<string, number>()
  let name = ''
  const pop = () => {
    const top = stack.pop()!
    open.set(top, open.get(top)! - 1)
  }
  const noop = () => {}
  const callbacks: TokenizerCallbacks = {
    onopentagname: (start, end) => {
      name = html.slice(start, end).toLowerCase()
    },
    onopentagend: () => {
      const closes = IMPLIED_CLOSE.get(name)
      while (closes && stack.length && closes.has(stack[stack.length - 1]!)) pop()
      if (VOID.has(name)) return
      stack.push(name)
      open.set(name, (open.get(name) ?? 0) + 1)
      if (stack.length > limit) throw TOO_DEEP
    },
    onselfclosingtag: () => callbacks.onopentagend(0),
    onclosetag: (start, end) => {
      const closing = html.slice(start, end).toLowerCase()
      // an end tag with nothing open to close is ignored; otherwise everything above it closes
      if (!open.get(closing)) return
      while (stack.length && stack[stack.length - 1] !== closing) pop()
      if (stack.length) pop()
    },
    onattribdata: noop,
    onattribentity: noop,
    onattribend: noop,
    onattribname: noop,
    oncdata: noop,
    oncomment: noop,
    ondeclaration: noop,
    onend: noop,
    onprocessinginstruction: noop,
    ontext: noop,
    ontextentity: noop
  }
  try {
    const tokenizer = new Tokenizer({ decodeEntities: false }, callbacks)
    tokenizer.write(html)
    tokenizer.end()
    return false
  } catch (err) {
    if (err === TOO_DEEP) return true
    throw err
  }
}
