// Draws docs/benchmarks.svg: requests per second of every operation, one bar per store, on a logarithmic
// axis so that login (tens per second) and hello (tens of thousands) fit on one chart.
import { isSkipped, meanHelloRate, rowOf, type BenchResults, type RunGroup, type StoreSection } from './results.js';
import { OPERATIONS, type Operation } from './scenarios.js';

interface ChartRow {
  label: string;
  /** One value per store, in the order of the legend; null where the store has no such run. */
  values: (number | null)[];
  /** Whether any of the runs of this row failed. */
  failed: boolean[];
}

const PLAIN_LABELS: Record<Operation, string> = {
  check_login: 'check_login, session',
  check_login_with_return_uuid: 'check_login_with_return_uuid, session',
  profile_session: 'GET profile, session',
  profile_basic: 'GET profile, Basic',
  login: 'login',
  create: 'create',
  check_login_during_storm: 'check_login during a login storm',
  login_storm: 'login, the storm beside it',
};

const COLORS = ['#2f6fb0', '#d9822b'];
const WIDTH = 1010;
const LABEL_WIDTH = 360;
const PLOT_WIDTH = 560;
const BAR_HEIGHT = 11;
const ROW_GAP = 10;
const TOP = 56;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function groupValue(group: RunGroup, operation: Operation): { value: number | null; failed: boolean } {
  const row = rowOf(group, operation);
  if (!row) return { value: null, failed: false };
  return { value: row.run.requestsPerSecond, failed: row.run.errors > 0 || row.run.non2xx > 0 };
}

function chartRows(sections: StoreSection[]): ChartRow[] {
  const rows: ChartRow[] = [];
  const add = (label: string, pick: (section: StoreSection) => { value: number | null; failed: boolean }) => {
    const picked = sections.map(pick);
    rows.push({ label, values: picked.map((entry) => entry.value), failed: picked.map((entry) => entry.failed) });
  };

  add('hello (bare Fastify), mean of its runs', (section) => ({ value: meanHelloRate(section.small), failed: false }));
  for (const operation of OPERATIONS) {
    add(PLAIN_LABELS[operation], (section) => groupValue(section.small, operation));
    const inFlight = sections[0]?.argon2[0]?.rate.concurrency;
    if (operation === 'login' && inFlight !== undefined) {
      add(`raw argon2id verifications, ${inFlight} in flight`, (section) => ({ value: section.argon2[0]?.rate.perSecond ?? null, failed: false }));
    }
  }
  const scale = sections.map((section) => section.scale).find((group) => !isSkipped(group));
  if (scale && !isSkipped(scale)) {
    for (const operation of ['check_login', 'check_login_with_return_uuid', 'profile_session'] as const) {
      const label = `${PLAIN_LABELS[operation]}, ${scale.accounts.toLocaleString('en')} sessions`;
      add(label, (section) => (isSkipped(section.scale) ? { value: null, failed: false } : groupValue(section.scale, operation)));
    }
  }
  return rows;
}

/** Returns the SVG document of the chart, or null when no store was measured. */
export function renderChart(results: BenchResults): string | null {
  const sections = results.stores.filter((section): section is StoreSection => !isSkipped(section));
  if (sections.length === 0) return null;

  const rows = chartRows(sections);
  const values = rows.flatMap((row) => row.values).filter((value): value is number => value !== null && value > 0);
  const minDecade = Math.floor(Math.log10(Math.min(...values)));
  const maxDecade = Math.ceil(Math.log10(Math.max(...values)));
  const x = (value: number) => LABEL_WIDTH + ((Math.log10(value) - minDecade) / (maxDecade - minDecade)) * PLOT_WIDTH;

  const rowHeight = sections.length * BAR_HEIGHT + ROW_GAP;
  const height = TOP + rows.length * rowHeight + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">sigma-accounts: requests per second, ${results.date} (logarithmic axis)</text>`,
  ];

  sections.forEach((section, index) => {
    const legendX = LABEL_WIDTH + index * 160;
    parts.push(`<rect x="${legendX}" y="30" width="12" height="12" fill="${COLORS[index % COLORS.length]}"/>`);
    parts.push(`<text x="${legendX + 18}" y="40">${escape(section.store)}</text>`);
  });
  parts.push(`<text x="${LABEL_WIDTH + sections.length * 160}" y="40" fill="#444">dashed: mean hello of the store's small-store runs</text>`);
  if (rows.some((row) => row.failed.includes(true))) {
    parts.push(`<text x="${WIDTH - 10}" y="20" text-anchor="end" fill="#b00020">red value: run FAILED</text>`);
  }

  const plotBottom = TOP + rows.length * rowHeight;
  for (let decade = minDecade; decade <= maxDecade; decade += 1) {
    for (const step of [1, 2, 5]) {
      const value = step * 10 ** decade;
      if (value > 10 ** maxDecade) continue;
      const position = x(value).toFixed(1);
      const major = step === 1;
      parts.push(`<line x1="${position}" y1="${TOP - 6}" x2="${position}" y2="${plotBottom}" stroke="${major ? '#bbb' : '#e6e6e6'}"/>`);
      if (major || maxDecade - minDecade <= 3) {
        parts.push(`<text x="${position}" y="${plotBottom + 16}" text-anchor="middle" fill="#444">${value.toLocaleString('en')}</text>`);
      }
    }
  }

  sections.forEach((section, index) => {
    const position = x(meanHelloRate(section.small)).toFixed(1);
    parts.push(`<line x1="${position}" y1="${TOP - 6}" x2="${position}" y2="${plotBottom}" stroke="${COLORS[index % COLORS.length]}" stroke-dasharray="4 3"/>`);
  });

  rows.forEach((row, rowIndex) => {
    const rowTop = TOP + rowIndex * rowHeight;
    parts.push(`<text x="${LABEL_WIDTH - 8}" y="${rowTop + (sections.length * BAR_HEIGHT) / 2 + 4}" text-anchor="end">${escape(row.label)}</text>`);

    row.values.forEach((value, seriesIndex) => {
      if (value === null || value <= 0) return;
      const top = rowTop + seriesIndex * BAR_HEIGHT;
      const end = x(value);
      const failed = row.failed[seriesIndex] === true;
      parts.push(`<rect x="${LABEL_WIDTH}" y="${top}" width="${Math.max(1, end - LABEL_WIDTH).toFixed(1)}" height="${BAR_HEIGHT - 1}" fill="${COLORS[seriesIndex % COLORS.length]}"/>`);
      const text = value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString('en');
      parts.push(`<text x="${(end + 4).toFixed(1)}" y="${top + BAR_HEIGHT - 2}" font-size="10" fill="${failed ? '#b00020' : '#222'}">${text}${failed ? ' FAILED' : ''}</text>`);
    });
  });

  parts.push(`<text x="${LABEL_WIDTH + PLOT_WIDTH / 2}" y="${plotBottom + 34}" text-anchor="middle" fill="#444">requests per second</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
