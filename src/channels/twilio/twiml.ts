import twilio from 'twilio'

/** TwiML for a messaging webhook: nothing to say, or one text back to the sender. */
export function messagingTwiml(reply?: string | null): string {
  const response = new twilio.twiml.MessagingResponse()
  // the library escapes the text: a resident's words or a template cannot break the XML
  if (reply) response.message(reply)
  return response.toString()
}
