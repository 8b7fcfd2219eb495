/**
 * How far along an outbound message is, so a status only ever moves forward: Twilio's
 * callbacks arrive out of order, and a late 'sent' must not undo 'delivered'. Final states
 * share the top rank but one: whichever came first stands (except 'read', which follows
 * 'delivered').
 */
const RANKS: Record<string, number> = {
  pending: 0,
  accepted: 1,
  scheduled: 1,
  queued: 1,
  sending: 2,
  sent: 3,
  // built by the demo mail transport (SMTP_URL unset) and sent nowhere
  kept: 3,
  delivered: 4,
  undelivered: 4,
  failed: 4,
  canceled: 4,
  blocked: 4,
  read: 5
}

/** The rank of a status; an unknown one (Twilio adds some) ranks just above 'sent'. */
export function statusRank(status: string): number {
  return RANKS[status] ?? 3
}
