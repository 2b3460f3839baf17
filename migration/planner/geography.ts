/**
 * Geography: great-circle distance between PoPs and the one-way propagation
 * delay of a fibre path between them.
 *
 * Light in silica fibre travels at about c / 1.47, i.e. ~204 km per
 * millisecond; we use 200 km/ms (the usual rule of thumb, 5 µs per km).
 * Fibre does not follow the great circle: long-haul conduits run along
 * railways, highways and pipelines, and published comparisons of fibre maps
 * with city-to-city distances find routes 20-50% longer than the great
 * circle. We take a route factor of 1.4 by default; both numbers are settings
 * of the input file (`geography.routeFactor`, `geography.kmPerMs`).
 *
 * The distance is the haversine formula on a sphere of mean radius
 * 6371.0088 km (IUGG mean Earth radius); the error against the ellipsoid is
 * below 0.5%, far under the uncertainty of the route factor.
 */

export const EARTH_RADIUS_KM = 6371.0088;
export const DEFAULT_KM_PER_MS = 200;
export const DEFAULT_ROUTE_FACTOR = 1.4;

export interface LatLon {
  lat: number;
  lon: number;
}

export interface FibreModel {
  routeFactor: number;
  kmPerMs: number;
}

const RAD = Math.PI / 180;

/** Great-circle distance in kilometres (haversine). */
export function greatCircleKm(a: LatLon, b: LatLon): number {
  const dLat = (b.lat - a.lat) * RAD;
  const dLon = (b.lon - a.lon) * RAD;
  const s =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(s)));
}

/** One-way propagation delay in milliseconds over fibre between two points. */
export function fibreDelayMs(
  a: LatLon,
  b: LatLon,
  model: FibreModel = { routeFactor: DEFAULT_ROUTE_FACTOR, kmPerMs: DEFAULT_KM_PER_MS },
): number {
  return (greatCircleKm(a, b) * model.routeFactor) / model.kmPerMs;
}
