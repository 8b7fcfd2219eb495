// LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI; LRM, RLM; the Arabic letter mark
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g

/**
 * Text without Unicode's invisible direction controls. Whatever we send to a resident or a
 * council may quote someone else's words (a subject, a report), and a right-to-left
 * override in them makes a mail or a text read differently from what it says
 * ("moc.elpmaxe" shown as "example.com"). No honest message needs them: the letters of
 * Arabic or Hebrew carry their own direction.
 */
export function withoutBidiControls(text: string): string {
  return text.replace(BIDI_CONTROLS, '')
}
