import assert from 'node:assert/strict';

import { request } from './client.js';

export const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

// Lines of the Prometheus text format 0.0.4: HELP, TYPE, or a sample with optional labels and timestamp.
const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*"`;
const HELP_LINE = new RegExp(`^# HELP (${METRIC_NAME}) .*$`);
const TYPE_LINE = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(`^(${METRIC_NAME})(\\{(?:${LABEL}(?:,${LABEL})*)?,?\\})? (\\S+)(?: -?\\d+)?$`);
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"/g;

/**
 * Parses the text format, and fails on a line of any other shape, on a sample before its TYPE line, and on a
 * value that is no number.
 */
export function parseExposition(text: string): Sample[] {
  assert.ok(text.endsWith('\n'), 'the text ends with a line break');
  const types = new Map<string, string>();
  const samples: Sample[] = [];

  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '' || HELP_LINE.test(line)) continue;

    const type = TYPE_LINE.exec(line);
    if (type) {
      assert.ok(!types.has(type[1] ?? ''), `one TYPE line for ${type[1]}`);
      types.set(type[1] ?? '', type[2] ?? '');
      continue;
    }

    const sample = SAMPLE_LINE.exec(line);
    assert.ok(sample, `line has the shape of a sample: ${line}`);
    const [, name = '', labelText = '', valueText = ''] = sample;
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(family), `a TYPE line comes before ${name}`);
    if (family !== name) assert.equal(types.get(family), 'histogram', `${name} belongs to a histogram`);

    // prom-client 15 writes NaN as Nan, so NaN is matched in any case.
    let value = Number(valueText);
    if (valueText === '+Inf') value = Infinity;
    if (valueText === '-Inf') value = -Infinity;
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(valueText), `${line} has a numeric value`);
    const labels = Object.fromEntries([...labelText.matchAll(LABEL_PAIR)].map((match) => [match[1] ?? '', match[2] ?? '']));
    samples.push({ name, labels, value });
  }
  return samples;
}

/** Returns the value of the one sample with exactly these labels, or undefined when there is none. */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const expected = JSON.stringify(Object.entries(labels).sort());
  const found = samples.filter((sample) => sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === expected);
  assert.ok(found.length <= 1, `at most one ${name} sample with labels ${expected}`);
  return found[0]?.value;
}

/** GETs `url`, checks that the response is 200 in the Prometheus text format, and returns its samples. */
export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Sample[]> {
  const response = await request(url, { method: 'GET', headers: { Accept: 'text/plain', ...headers } });
  assert.equal(response.status, 200, response.text);
  assert.equal(response.headers.get('content-type'), PROMETHEUS_TYPE);
  return parseExposition(response.text);
}
