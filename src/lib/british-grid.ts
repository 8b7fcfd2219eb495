import proj4 from 'proj4'

// British National Grid (EPSG:27700: OSGB36 datum, Airy 1830 ellipsoid, transverse
// Mercator) with the published 7-parameter Helmert shift to WGS84. It is good to about 5 m
// across Great Britain, ample for placing a report with a council; OSTN15, which is
// sub-metre, needs Ordnance Survey's grid file and buys nothing here.
const BNG = '+proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000 +y_0=-100000 +ellps=airy +towgs84=446.448,-125.157,542.06,0.15,0.247,0.842,-20.489 +units=m +no_defs'
const toWgs84 = proj4(BNG, 'EPSG:4326')

// The grid's extent: 0-700 km east, 0-1300 km north (Shetland included).
const GRID = { maxEasting: 700_000, maxNorthing: 1_300_000 }

/**
 * A British National Grid position (metres east and north, as FixMyStreet sends them) as
 * WGS84 latitude and longitude, rounded to 6 places (10 cm); null off the grid.
 */
export function gridToLatLng(easting: number, northing: number): { lat: number; lng: number } | null {
  if (!Number.isFinite(easting) || !Number.isFinite(northing)) return null
  if (easting < 0 || easting > GRID.maxEasting || northing < 0 || northing > GRID.maxNorthing) return null
  const [lng, lat] = toWgs84.forward([easting, northing])
  if (lat === undefined || lng === undefined || !Number.isFinite(lat) || !Number.isFinite(lng)) return null
  return { lat: Math.round(lat * 1e6) / 1e6, lng: Math.round(lng * 1e6) / 1e6 }
}
