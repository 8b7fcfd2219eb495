/**
 * GSS codes of the demo councils the tests use, named after the council (seeds/reference.json
 * has them all, with their partnerships). Import these rather than writing a code again: a
 * name says which council a test means. SQL text and URLs a test expects on the wire may
 * keep the code itself.
 */

/** Westminster City Council (London borough, tri-borough) */
export const WESTMINSTER = 'E09000033'
/** London Borough of Hammersmith and Fulham (tri-borough) */
export const HAMMERSMITH = 'E09000013'
/** Royal Borough of Kensington and Chelsea (tri-borough) */
export const KENSINGTON = 'E09000020'
/** London Borough of Brent (brent-lewisham, its host) */
export const BRENT = 'E09000005'
/** London Borough of Lewisham (brent-lewisham) */
export const LEWISHAM = 'E09000023'
/** Royal Borough of Greenwich (in no partnership) */
export const GREENWICH = 'E09000011'
/** Rotherham Metropolitan Borough Council (rbt-connect) */
export const ROTHERHAM = 'E08000018'
/** Leicestershire County Council: the county over Hinckley and Blaby (upper-tier services: potholes) */
export const LEICESTERSHIRE = 'E10000018'
/** Hinckley and Bosworth Borough Council (district of Leicestershire; leicestershire-districts) */
export const HINCKLEY = 'E07000132'
/** Blaby District Council (district of Leicestershire; leicestershire-districts) */
export const BLABY = 'E07000129'
/** Leicester City Council (unitary, in no partnership) */
export const LEICESTER = 'E06000016'
