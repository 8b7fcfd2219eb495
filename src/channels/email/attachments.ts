import { extname } from 'node:path'
import { fileTypeFromBuffer } from 'file-type'
import { toWellFormedText } from '../../lib/well-formed-json.js'

/**
 * What a council accepts as an email attachment, by declared content type, with what the
 * bytes must look like to `file-type`. `null` means a text format: file-type recognises no
 * plain text, so those bytes only have to look like no binary format. Scripts, HTML, SVG
 * and archives are absent on purpose: they are what a phishing mail carries.
 */
const ACCEPTED: ReadonlyMap<string, readonly string[] | null> = new Map<string, readonly string[] | null>([
  ['application/pdf', ['application/pdf']],
  ['image/jpeg', ['image/jpeg']],
  ['image/jpg', ['image/jpeg']],
  ['image/pjpeg', ['image/jpeg']],
  ['image/png', ['image/png']],
  ['image/gif', ['image/gif']],
  ['image/webp', ['image/webp']],
  ['image/heic', ['image/heic', 'image/heif']],
  ['image/heif', ['image/heic', 'image/heif']],
  ['image/bmp', ['image/bmp']],
  ['image/tiff', ['image/tiff']],
  // the binary Office formats are all Compound File Binary containers
  ['application/msword', ['application/x-cfb']],
  ['application/vnd.ms-excel', ['application/x-cfb']],
  ['application/vnd.ms-powerpoint', ['application/x-cfb']],
  ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', ['application/vnd.openxmlformats-officedocument.wordprocessingml.document']],
  ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet']],
  ['application/vnd.openxmlformats-officedocument.presentationml.presentation', ['application/vnd.openxmlformats-officedocument.presentationml.presentation']],
  ['application/vnd.oasis.opendocument.text', ['application/vnd.oasis.opendocument.text']],
  ['application/vnd.oasis.opendocument.spreadsheet', ['application/vnd.oasis.opendocument.spreadsheet']],
  ['application/vnd.oasis.opendocument.presentation', ['application/vnd.oasis.opendocument.presentation']],
  ['application/rtf', ['application/rtf']],
  ['text/rtf', ['application/rtf']],
  ['text/plain', null],
  ['text/csv', null],
  ['text/calendar', null],
  ['message/rfc822', null]
])

/** Types file-type may find in a text attachment without it being something else in disguise. */
const TEXT_LOOKALIKES = new Set(['text/calendar', 'application/xml', 'application/rtf'])

/** Names Windows (or a mail client) would run rather than open, whatever the content is. */
const RUNNABLE_EXTENSIONS = new Set([
  'exe', 'com', 'scr', 'pif', 'bat', 'cmd', 'msi', 'msp', 'dll', 'cpl', 'js', 'jse', 'vbs', 'vbe', 'wsf', 'wsh',
  'ps1', 'hta', 'jar', 'lnk', 'reg', 'sh', 'app', 'iso', 'img', 'vhd', 'vhdx'
])

const EXTENSION_FOR: Record<string, string> = {
  'application/pdf': '.pdf',
  'image/jpeg': '.jpg',
  'image/jpg': '.jpg',
  'image/png': '.png',
  'image/gif': '.gif',
  'image/webp': '.webp',
  'image/heic': '.heic',
  'text/plain': '.txt',
  'text/csv': '.csv',
  'text/calendar': '.ics',
  'message/rfc822': '.eml',
  'application/msword': '.doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': '.docx',
  'application/vnd.ms-excel': '.xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': '.xlsx',
  'application/vnd.oasis.opendocument.text': '.odt'
}

const MAX_FILENAME = 200
// C0 and C1 controls, DEL, and the bidirectional overrides that make "exe.pdf" read as "fdp.exe"
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g
// reserved on Windows, where agents download the files
const RESERVED_CHARS = /[<>:"|?*]/g

/** `type/subtype` in lower case, parameters removed; `application/octet-stream` when blank. */
export function bareContentType(contentType: string | undefined): string {
  const bare = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
  return bare === '' ? 'application/octet-stream' : bare
}

/**
 * A file name safe to show and to offer for download: the base name only (no directories,
 * whichever separator the sender used), no control or direction-changing characters, no
 * leading dots, at most 200 characters with the extension kept. Never empty: "attachment"
 * plus an extension for the content type. Storage keys are generated elsewhere; this is
 * only the name people see.
 */
export function safeFilename(name: string | null | undefined, contentType: string): string {
  // a UTF-16 filename* can decode to half a surrogate pair: U+FFFD instead (jsonb refuses it)
  let base = toWellFormedText(name ?? '').normalize('NFC').replace(UNSAFE_CHARS, '')
  base = base.split(/[/\\]/).pop() ?? ''
  base = base.replace(RESERVED_CHARS, '_').replace(/^[\s.]+/, '').replace(/[\s.]+$/, '')
  if (base === '') return 'attachment' + (EXTENSION_FOR[bareContentType(contentType)] ?? '')
  if (base.length <= MAX_FILENAME) return base
  const ext = extname(base)
  const keep = ext.length > 0 && ext.length <= 20 ? ext : ''
  return cutAt(base.slice(0, base.length - keep.length), MAX_FILENAME - keep.length) + keep
}

/** The first `max` UTF-16 units, without leaving half a surrogate pair at the end. */
export function cutAt(text: string, max: number): string {
  if (text.length <= max) return text
  const cut = text.slice(0, max)
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut
}

export interface AttachmentToCheck {
  filename: string
  contentType: string
  content: Buffer
}

/**
 * Why an attachment must not be stored, or null when it may be: over the size limit, a type
 * outside the accepted list, a name that Windows would run, or bytes that are not what the
 * declared type says (a "PDF" that is an executable). The message keeps the raw bytes, so a
 * refused file is never lost, only not offered.
 */
export async function attachmentRefusal(att: AttachmentToCheck, maxBytes: number): Promise<string | null> {
  const type = bareContentType(att.contentType)
  if (att.content.length > maxBytes) return `too big: ${att.content.length} bytes, the limit is ${maxBytes}`
  if (!ACCEPTED.has(type)) return `type ${type} is not accepted`
  const ext = extname(att.filename).slice(1).toLowerCase()
  if (RUNNABLE_EXTENSIONS.has(ext)) return `a .${ext} file is not accepted`
  if (att.content.length === 0) return 'the file is empty'
  const expected = ACCEPTED.get(type)
  const found = (await fileTypeFromBuffer(att.content))?.mime
  if (expected === null || expected === undefined) {
    if (found !== undefined && !TEXT_LOOKALIKES.has(found)) return `content does not match its declared type ${type} (looks like ${found})`
    return null
  }
  if (found === undefined || !expected.includes(found)) return `content does not match its declared type ${type} (looks like ${found ?? 'unknown data'})`
  return null
}
