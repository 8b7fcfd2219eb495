import sanitizeHtml from 'sanitize-html'

// inline images the message carried itself; svg is left out because it can hold script
const EMBEDDED_IMAGE = /^(cid:|data:image\/(png|jpe?g|gif|webp|bmp);base64,)/i

// presentation only: no url() anywhere, so no style can fetch a remote image either
const SAFE_STYLES: sanitizeHtml.IOptions['allowedStyles'] = {
  '*': {
    color: [/^#[0-9a-f]{3,8}$/i, /^[a-z]+$/i, /^rgba?\([\d\s.,%]+\)$/i],
    'background-color': [/^#[0-9a-f]{3,8}$/i, /^[a-z]+$/i, /^rgba?\([\d\s.,%]+\)$/i],
    'text-align': [/^(left|right|center|justify)$/i],
    'font-weight': [/^(normal|bold|bolder|lighter|\d{3})$/i],
    'font-style': [/^(normal|italic|oblique)$/i],
    'text-decoration': [/^(none|underline|line-through|overline)$/i],
    'font-size': [/^\d+(\.\d+)?(px|pt|em|rem|%)$/i]
  }
}

const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: [...sanitizeHtml.defaults.allowedTags, 'img', 'font', 'center'],
  allowedAttributes: {
    a: ['href', 'name', 'title', 'rel'],
    img: ['src', 'alt', 'title', 'width', 'height'],
    font: ['color'],
    td: ['colspan', 'rowspan', 'align', 'valign'],
    th: ['colspan', 'rowspan', 'align', 'valign'],
    table: ['border', 'cellpadding', 'cellspacing', 'width'],
    '*': ['style', 'dir', 'lang']
  },
  allowedStyles: SAFE_STYLES,
  allowedSchemes: ['http', 'https', 'mailto', 'tel'],
  allowedSchemesByTag: { img: ['cid', 'data'] },
  allowProtocolRelative: false,
  transformTags: {
    // a link from a stranger must not get a handle on the agent's window, nor learn where it was opened
    a: sanitizeHtml.simpleTransform('a', { rel: 'noopener noreferrer' }),
    img: (tagName, attribs) => {
      const src = attribs.src?.trim() ?? ''
      const { src: _ignored, ...rest } = attribs
      return { tagName, attribs: EMBEDDED_IMAGE.test(src) ? { ...rest, src } : rest }
    }
  },
  // an image left without a source (remote, tracking pixel) shows nothing: drop the tag
  exclusiveFilter: (frame) => frame.tag === 'img' && !frame.attribs.src
}

/**
 * HTML from an email made safe to show to an agent: formatting kept; scripts, event
 * handlers, frames, forms, objects, `javascript:` links and every remote image (tracking
 * pixels included) removed; images only from the message itself (`cid:` or an inline
 * `data:image/...`). Unbounded: run it through sanitiseBounded (html-limits.ts), on the
 * HTML thread (HtmlSanitiser), never on the event loop that answers requests.
 */
export function sanitiseHtml(html: string): string {
  return sanitizeHtml(html, OPTIONS)
}
