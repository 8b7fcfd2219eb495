/** One contact as every channel adapter hands it over: normalised, with nothing of cases or routing. */
export interface InboundContact {
  channel: 'web' | 'sms' | 'email' | 'voice' | 'open311'
  /** who delivered it ('web', 'twilio', 'smtp', ...) and their id for it; unique together */
  provider: string
  providerMessageId: string
  /** the payload exactly as received (NUL bytes stripped), kept in raw_inbound */
  rawPayload: unknown
  /** a hash of the meaningful request, to tell a replay from a reused key */
  payloadHash: string | null
  sender: {
    name: string | null
    /** lower-cased */
    email: string | null
    /** E.164 */
    phone: string | null
    /** the raw sender address as the provider gave it */
    raw: string | null
    /**
     * Which of the points the channel proved (a Twilio-signed text from the number, a reply
     * carrying our Message-ID): those may tie the contact to the resident who proved them
     * before. Absent or false: a claim, which links at most and grants nothing.
     */
    verified?: { email?: boolean; phone?: boolean }
  }
  /** the address the resident contacted (our number or mailbox) */
  recipient: string | null
  text: string
  location: { postcode: string | null; lat: number | null; lng: number | null }
  serviceCode: string | null
  councilGss: string | null
  /** a case reference the contact says it belongs to; honoured only for the same resident */
  threadReference: string | null
  /**
   * Join the sender's open case opened through the same address of ours (`recipient`) if
   * it heard from them within this many seconds (SMS conversations); only for a proven phone.
   */
  threadWindowSecs?: number
  /** media the provider lists with the message (MMS), fetched later */
  media?: { url: string; contentType: string }[]
  /**
   * A case the channel proved this message belongs to (a mail quoting our Message-ID or
   * reply address): it joins that case whatever else it says. `how` is recorded.
   */
  threadCase?: { caseId: number; how: string }
  /** email: the subject and the HTML part as sent */
  subject?: string | null
  html?: string | null
  /** automatic mail (an out-of-office, a bounce, list mail): attached, changes nothing */
  kind?: 'auto_reply' | 'bounce' | 'list' | null
  /** flags for a person to look at on a case this opens */
  flags?: string[]
  /** attachments over the count cap, not stored (the raw message keeps them) */
  attachmentsOmitted?: number
  /** the property (UPRN) and street (USRN) the contact is about, when the channel gave them, checked */
  uprn?: string | null
  usrn?: string | null
  /** what the reporting client (FixMyStreet) told of its own report, kept on a case this opens */
  externalReport?: ExternalReport | null
}

/** A report as the client that sent it knows it; every field optional, as clients differ. */
export interface ExternalReport {
  /** who: 'fixmystreet', or the client's own name */
  client: string
  id?: string
  url?: string
  title?: string
  closest_address?: string
  /** British National Grid (OSGB36) metres, as sent */
  easting?: number
  northing?: number
}
