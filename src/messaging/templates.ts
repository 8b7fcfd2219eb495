/** The texts Switchboard sends on its own, each with its built-in wording. */
export const TEMPLATE_DEFAULTS = {
  sms_acknowledgement: 'Thank you, we have your report. Your reference is {reference}. Reply to this number to add to it.',
  sms_ask_postcode: 'To send your report {reference} to the right council, please reply with the full postcode where it is.',
  email_acknowledgement:
    'Thank you for contacting {name}. We have your message and its reference is {reference}.\n\n' +
    'To add to it, reply to this email and keep the reference in the subject. This is an automatic reply: there is no need to answer it.',
  status_update: 'Your report {reference} to {council} {status}. {description}'
} as const

export type TemplateKind = keyof typeof TEMPLATE_DEFAULTS

/** Fills `{name}` placeholders; an unknown placeholder is left as it is. */
export function renderTemplate(body: string, values: Record<string, string>): string {
  return body.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole)
}

/** What a reply to a text says when the resident asks for HELP. */
export const SMS_HELP_TEXT = 'This number takes reports for your council. Text your report and its postcode; reply STOP to stop messages.'
