import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { EmailDeps } from '../../channels/email/email-deps.js'
import { HtmlSanitiser } from '../../channels/email/html-sanitiser.js'
import { releaseQuarantined } from '../../channels/email/receive-email.js'
import { safeHtmlOf } from '../../channels/email/safe-html.js'
import { casesByReference, recordRequestReads } from '../../data-protection/access-log.js'
import { AppError } from '../../errors.js'
import { CaseReference } from '../../intake/reference.js'
import { Id as RowId, Nullable, Timestamp } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'

const Id = Type.Object({ id: RowId() })

const Quarantined = Type.Object({
  id: Type.Integer(),
  received_at: Timestamp,
  source: Type.String(),
  reason: Type.String(),
  envelope_from: Nullable(Type.String()),
  recipients: Type.Array(Type.String()),
  subject: Nullable(Type.String()),
  size_bytes: Type.Integer()
})
const Attachment = Type.Object({
  storage_key: Type.String(),
  filename: Nullable(Type.String()),
  content_type: Type.String(),
  size_bytes: Nullable(Type.Integer()),
  state: Type.String(),
  detail: Nullable(Type.String()),
  inline: Type.Boolean()
})
const SenderCheck = Type.Object(
  {
    passed: Type.Boolean(),
    reason: Type.String(),
    spf: Type.String(),
    dkim: Type.String(),
    dmarc: Type.String()
  },
  { description: "SPF, DKIM and DMARC of an inbound mail as our listener (or, for a provider's webhook, DKIM alone) found them; only a pass is acknowledged automatically" }
)
const Message = Type.Object({
  id: Type.Integer(),
  direction: Type.String(),
  channel: Type.String(),
  kind: Nullable(Type.String()),
  subject: Nullable(Type.String()),
  body: Type.String(),
  has_html: Type.Boolean(),
  sender: Nullable(Type.String()),
  recipient: Nullable(Type.String()),
  status: Nullable(Type.String()),
  status_detail: Nullable(Type.String()),
  author: Nullable(Type.String()),
  attachments_omitted: Type.Integer(),
  attachments: Type.Array(Attachment),
  sender_check: Nullable(SenderCheck),
  created_at: Timestamp
})

// Served HTML may only show what it carries: no scripts, frames, forms or remote loads.
const HTML_CSP = "default-src 'none'; img-src cid: data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/**
 * Supervisor routes for mail: the quarantine, a case's messages, sanitised HTML, attachments.
 * A case's messages, HTML and attachments record a read of the case before they are sent.
 * The quarantine's mail belongs to no case (it is held because no case would take it), so
 * the read log, which is kept per case, cannot record its reads; release and discard
 * answer an outcome and a reference only.
 */
export async function adminEmailRoutes(fastify: FastifyInstance, opts: { mail: EmailDeps }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db } = app
  const deps = opts.mail
  const security = [{ operatorKey: [] }]
  const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody }
  // a mail's HTML is sanitised on a thread of its own, 5 s at most, a few waiting at once
  const sanitiser = new HtmlSanitiser({ deadlineMs: 5_000, maxWaiting: 16 })
  fastify.addHook('onClose', () => sanitiser.close())

  app.get(
    '/v1/admin/email/quarantine',
    { schema: { tags: ['operations'], security, summary: 'Mail kept for a person to decide on (unparseable, no sender, automatic mail for no case)', response: { 200: Type.Array(Quarantined), ...errors } } },
    async () => {
      const { rows } = await db.query(
        `select id, received_at, source, reason, envelope_from, recipients, subject, size_bytes
           from inbound_emails where state = 'quarantined' order by received_at, id limit 500`
      )
      return rows
    }
  )

  app.get(
    '/v1/admin/email/quarantine/:id/raw',
    { schema: { tags: ['operations'], security, summary: 'A quarantined message exactly as it arrived (message/rfc822)', params: Id } },
    async (req, reply) => {
      const { rows } = await db.query<{ bytes: Buffer | null }>(`select bytes from inbound_emails where id = $1 and state = 'quarantined'`, [req.params.id])
      if (!rows[0]?.bytes) throw new AppError('not_found', { message: 'No message in quarantine with this id' })
      return reply.type('message/rfc822').header('content-disposition', `attachment; filename="quarantine-${req.params.id}.eml"`).header('x-content-type-options', 'nosniff').send(rows[0].bytes)
    }
  )

  app.post(
    '/v1/admin/email/quarantine/:id/release',
    { schema: { tags: ['operations'], security, summary: 'Put a quarantined message on a case after all', params: Id, response: { 200: Type.Object({ outcome: Type.String(), reference: Nullable(Type.String()) }), ...errors } } },
    async (req) => {
      const result = await releaseQuarantined(deps, req.params.id, 'operator')
      if (!result) throw new AppError('not_in_quarantine')
      return { outcome: result.outcome, reference: result.outcome === 'quarantined' ? null : result.reference }
    }
  )

  app.post(
    '/v1/admin/email/quarantine/:id/discard',
    { schema: { tags: ['operations'], security, summary: 'Discard a quarantined message: its bytes are deleted, the record of it stays', params: Id, response: { 200: Type.Object({ outcome: Type.Literal('discarded') }), ...errors } } },
    async (req) => {
      const { rowCount } = await db.query(
        `update inbound_emails set state = 'discarded', bytes = null, decided_by = 'operator', decided_at = now() where id = $1 and state = 'quarantined'`,
        [req.params.id]
      )
      if (!rowCount) throw new AppError('not_in_quarantine')
      return { outcome: 'discarded' as const }
    }
  )

  app.get(
    '/v1/admin/cases/:reference/messages',
    { schema: { tags: ['operations'], security, summary: "A case's messages, text first; HTML and attachments by their own links", params: Type.Object({ reference: CaseReference() }), response: { 200: Type.Array(Message), ...errors } } },
    async (req) => {
      const { rows } = await db.query(
        `select m.id, m.direction, m.channel, m.kind, m.subject, m.body, m.html is not null as has_html, m.sender, m.recipient,
                m.status, m.status_detail, m.author, m.attachments_omitted, m.created_at,
                coalesce((select jsonb_agg(jsonb_build_object('storage_key', mm.storage_key, 'filename', mm.filename, 'content_type', mm.content_type,
                                                              'size_bytes', mm.size_bytes, 'state', mm.state, 'detail', mm.detail, 'inline', mm.inline) order by mm.position)
                            from message_media mm where mm.message_id = m.id), '[]'::jsonb) as attachments,
                r.payload->'senderCheck' as sender_check
           from messages m join cases c on c.id = m.case_id
           left join raw_inbound r on r.id = m.raw_inbound_id and m.channel = 'email'
          where c.reference = $1 order by m.id`,
        [req.params.reference.toUpperCase()]
      )
      if (!rows.length) {
        const exists = await db.query('select 1 from cases where reference = $1', [req.params.reference.toUpperCase()])
        if (!exists.rows.length) throw new AppError('not_found', { message: 'No case with this reference' })
      }
      // no messages shows nothing of anyone's; any message is a read of the case
      if (rows.length) await recordRequestReads(db, req, await casesByReference(db, [req.params.reference.toUpperCase()]))
      return rows
    }
  )

  app.get(
    '/v1/admin/messages/:id/html',
    {
      schema: {
        tags: ['operations'],
        security,
        summary: "A mail's HTML part, sanitised (no scripts, no remote content); HTML too big or too deeply nested to sanitise is shown as its text part",
        params: Id
      }
    },
    async (req, reply) => {
      const found = await safeHtmlOf(db, sanitiser, req.params.id)
      if (!found) throw new AppError('not_found', { message: 'This message has no HTML part' })
      await recordRequestReads(db, req, [found.read])
      return reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', HTML_CSP)
        .header('x-content-type-options', 'nosniff')
        .send(found.html)
    }
  )

  app.get(
    '/v1/admin/attachments/:key',
    { schema: { tags: ['operations'], security, summary: 'An attachment, always as a download', params: Type.Object({ key: Type.String({ format: 'uuid' }) }) } },
    async (req, reply) => {
      const { rows } = await db.query<{ filename: string | null; content_type: string; content: Buffer | null; case_id: number; reference: string; council_gss: string | null }>(
        `select mm.filename, mm.content_type, mm.content, c.id as case_id, c.reference, c.council_gss
           from message_media mm join messages m on m.id = mm.message_id join cases c on c.id = m.case_id
          where mm.storage_key = $1 and mm.state = 'stored'`,
        [req.params.key]
      )
      const a = rows[0]
      if (!a?.content) throw new AppError('not_found', { message: 'No stored attachment with this key' })
      await recordRequestReads(db, req, [{ id: a.case_id, reference: a.reference, council_gss: a.council_gss }])
      const name = a.filename ?? 'attachment'
      return reply
        .type(a.content_type)
        .header('content-disposition', `attachment; filename="${name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`)
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .send(a.content)
    }
  )
}
