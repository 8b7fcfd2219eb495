// Work statuses and their moves, with no imports: the server (src/agents/work.ts) and the
// desk's page (src/desk) read the same table.

export const WORK_STATUSES = ['new', 'open', 'waiting_on_resident', 'waiting_on_back_office', 'resolved', 'closed'] as const
export type WorkStatus = (typeof WORK_STATUSES)[number]

/** Where a case may go from each work status. closed → open also needs a supervisor. */
export const WORK_TRANSITIONS: Record<WorkStatus, readonly WorkStatus[]> = {
  new: ['open'],
  open: ['waiting_on_resident', 'waiting_on_back_office', 'resolved'],
  waiting_on_resident: ['open', 'resolved'],
  waiting_on_back_office: ['open', 'resolved'],
  resolved: ['closed', 'open'],
  closed: ['open']
}
