/** Display formatting for the page (pure, so it is unit-testable). */

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatPercent(fraction: number | null | undefined): string {
  return fraction === null || fraction === undefined || !Number.isFinite(fraction)
    ? '–'
    : `${(100 * fraction).toFixed(1)} %`;
}

export function formatMemberships(memberships: readonly number[] | undefined): string {
  if (!memberships || memberships.length === 0) return '–';
  return memberships.map((pi, k) => `cluster ${k}: ${pi.toFixed(2)}`).join(', ');
}
