/** Formats a millisecond time as ISO 8601 with microseconds and a +00:00 offset, as CloudSigma does. */
export function isoWithOffset(milliseconds: number): string {
  return new Date(milliseconds).toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}
