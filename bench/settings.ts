// Reading the BENCH_* environment variables of the benchmark scripts.

/** Returns a whole-number setting of at least `min`, or `fallback` when the variable is unset or empty. */
export function wholeNumberSetting(name: string, fallback: number, min = 1): number {
  const value = process.env[name]?.trim();
  if (value === undefined || value === '') return fallback;

  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new Error(`${name} must be a whole number of at least ${min}, not "${value}"`);
  }
  return Number(value);
}

/** Returns whether an on/off setting is on: 1, true, on or yes. */
export function flagSetting(name: string): boolean {
  const value = process.env[name]?.trim().toLowerCase() ?? '';
  if (['1', 'true', 'on', 'yes'].includes(value)) return true;
  if (['', '0', 'false', 'off', 'no'].includes(value)) return false;
  throw new Error(`${name} must be 1 or 0, not "${value}"`);
}
