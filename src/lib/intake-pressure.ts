/**
 * How many contacts are being accepted at this moment, averaged over time. In the
 * all-in-one process, routing reads it and holds new cases back while a burst of contacts
 * is coming in (workers/give-way.ts): a resident waiting for an acknowledgement matters
 * more than routing a stored case a few seconds sooner.
 */
/** Since the previous sample: the mean number of contacts in hand, and the share of the time at least one was. */
export interface PressureSample {
  mean: number
  busy: number
}

/** Where the workers read how busy the API is: the counter itself, or its figures posted from another thread. */
export interface PressureSource {
  sample(): PressureSample
}

export class IntakePressure implements PressureSource {
  private inFlight = 0
  private area = 0
  private busy = 0
  private since = performance.now()
  private last = this.since

  /** Marks one contact as being accepted; call the returned function once it is answered. */
  begin(): () => void {
    this.advance()
    this.inFlight++
    let ended = false
    return () => {
      if (ended) return
      ended = true
      this.advance()
      this.inFlight--
    }
  }

  /**
   * Since the previous call: the time-weighted mean number of contacts in hand, and the
   * share of the time (0 to 1) at least one was. A steady stream below capacity leaves
   * gaps; a burst the process cannot keep up with does not.
   */
  sample(): PressureSample {
    this.advance()
    const span = this.last - this.since
    const mean = span > 0 ? this.area / span : this.inFlight
    const busy = span > 0 ? this.busy / span : this.inFlight > 0 ? 1 : 0
    this.area = 0
    this.busy = 0
    this.since = this.last
    return { mean, busy }
  }

  private advance() {
    const now = performance.now()
    this.area += this.inFlight * (now - this.last)
    if (this.inFlight > 0) this.busy += now - this.last
    this.last = now
  }
}
