import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { activeAccount, PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { type ApiResponse, errorList, errorPoints, request, type RequestOptions } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const PROFILE_PATH = '/api/2.0/profile/';
const SCHEMA_PATH = '/api/2.0/profile/schema/';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DECIMAL_TEXT = /^\d+(\.\d+)?([eE][+-]?\d+)?$/;
const ISO_WITH_UTC_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00:00$/;

type FieldType = 'string' | 'boolean' | 'decimal' | 'dict' | 'datetime';

/**
 * Every field of CloudSigma's profile schema (API 2.0) with its type, read-only and nullable flags. CloudSigma
 * marks `signup_time` writable, but this server ignores it on PUT, so here it is read-only.
 */
const FIELDS: Record<string, { type: FieldType; readonly: boolean; nullable: boolean }> = {
  address: { type: 'string', readonly: false, nullable: false },
  api_https_only: { type: 'boolean', readonly: false, nullable: false },
  autotopup_amount: { type: 'decimal', readonly: false, nullable: false },
  autotopup_threshold: { type: 'decimal', readonly: false, nullable: false },
  bank_reference: { type: 'string', readonly: true, nullable: true },
  clone_naming: { type: 'string', readonly: false, nullable: false },
  company: { type: 'string', readonly: false, nullable: false },
  country: { type: 'string', readonly: false, nullable: false },
  currency: { type: 'string', readonly: true, nullable: true },
  email: { type: 'string', readonly: true, nullable: false },
  first_name: { type: 'string', readonly: false, nullable: false },
  has_autotopup: { type: 'boolean', readonly: false, nullable: false },
  has_tx_autotopup: { type: 'boolean', readonly: false, nullable: false },
  invoicing: { type: 'boolean', readonly: false, nullable: false },
  key_auth: { type: 'boolean', readonly: false, nullable: false },
  language: { type: 'string', readonly: false, nullable: false },
  last_name: { type: 'string', readonly: false, nullable: false },
  mailing_list: { type: 'boolean', readonly: false, nullable: false },
  meta: { type: 'dict', readonly: false, nullable: false },
  my_notes: { type: 'string', readonly: false, nullable: true },
  network_restrictions: { type: 'string', readonly: true, nullable: true },
  nickname: { type: 'string', readonly: false, nullable: false },
  // Not in CloudSigma's schema: whether two-factor authentication is on.
  otp_enabled: { type: 'boolean', readonly: true, nullable: false },
  phone: { type: 'string', readonly: false, nullable: false },
  postcode: { type: 'string', readonly: false, nullable: true },
  reseller: { type: 'string', readonly: false, nullable: false },
  signup_time: { type: 'datetime', readonly: true, nullable: false },
  state: { type: 'string', readonly: true, nullable: false },
  tax_name: { type: 'string', readonly: true, nullable: true },
  tax_rate: { type: 'decimal', readonly: true, nullable: true },
  title: { type: 'string', readonly: false, nullable: false },
  town: { type: 'string', readonly: false, nullable: false },
  tx_autotopup_amount: { type: 'decimal', readonly: false, nullable: false },
  tx_autotopup_threshold: { type: 'decimal', readonly: false, nullable: false },
  uuid: { type: 'string', readonly: true, nullable: false },
  vat: { type: 'string', readonly: false, nullable: false },
};

const FIELD_NAMES = Object.keys(FIELDS).sort();
const fieldsOf = (type: FieldType, writable = true) =>
  Object.entries(FIELDS)
    .filter(([, field]) => field.type === type && (!writable || !field.readonly))
    .map(([name]) => name);

// The request body of CloudSigma's documented profile update, unchanged. It sends read-only fields back too.
const CLOUDSIGMA_UPDATE_EXAMPLE = {
  address: 'Somwhere in time',
  api_https_only: false,
  autotopup_amount: '0E-16',
  autotopup_threshold: '0E-16',
  bank_reference: 'jdoe123',
  clone_naming: 'COUNTER',
  company: 'Newly Set Company Name',
  country: 'BG',
  currency: 'EUR',
  email: 'user@example.com',
  first_name: 'John',
  has_autotopup: false,
  has_tx_autotopup: false,
  invoicing: true,
  key_auth: false,
  language: 'EN',
  last_name: 'Doe',
  mailing_list: true,
  meta: {},
  my_notes: '2015-03-19 07:41:24.231684',
  network_restrictions: null,
  nickname: '',
  phone: '',
  postcode: '1000',
  reseller: '',
  signup_time: '2014-08-25T14:34:33.868186+00:00',
  state: 'REGULAR',
  tax_name: null,
  tax_rate: null,
  title: '',
  town: 'Sofia',
  tx_autotopup_amount: '0E-16',
  tx_autotopup_threshold: '0E-16',
  uuid: '6f670b3c-a2e6-433f-aeab-b976b1cdaf03',
  vat: '',
};

interface Account {
  email: string;
  uuid: string;
  cookies: Record<string, string>;
}

let smtp: SmtpSink;
let server: TestServer;

before(async () => {
  smtp = new SmtpSink();
  server = await startTestServer({ SMTP_URL: await smtp.start() });
});

after(async () => {
  await server.stop();
  await smtp.stop();
});

function newAccount(prefix: string): Promise<Account> {
  return activeAccount(server.url, smtp, uniqueAddress(prefix));
}

function basicFor(account: Account): string {
  return `Basic ${Buffer.from(`${account.email}:${PASSWORD}`, 'utf8').toString('base64')}`;
}

/** Sends a request authenticated by the account's session, with its CSRF token unless `headers` replaces it. */
function asSession(account: Account, method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
  return request(`${server.url}${path}`, {
    method,
    cookies: account.cookies,
    ...options,
    headers: { 'X-CSRFToken': account.cookies.csrftoken ?? '', ...options.headers },
  });
}

async function getProfile(account: Account): Promise<Record<string, unknown>> {
  const response = await asSession(account, 'GET', PROFILE_PATH);
  assert.equal(response.status, 200, response.text);
  return response.body as Record<string, unknown>;
}

function putProfile(account: Account, body: unknown): Promise<ApiResponse> {
  return asSession(account, 'PUT', PROFILE_PATH, { body });
}

/** Asserts a 400 validation error list whose error points are exactly `points`, in any order. */
function assertInvalid(response: ApiResponse, points: string[], label: string): void {
  assert.equal(response.status, 400, `${label}: expected 400, got ${response.status}: ${response.text.slice(0, 300)}`);
  for (const entry of errorList(response)) assert.equal(entry.error_type, 'validation', label);
  assert.deepEqual([...errorPoints(response)].sort(), [...points].sort(), label);
}

describe('GET /profile/', () => {
  test('new account has every field', async () => {
    const account = await newAccount('fresh');
    const startedAt = Date.now();
    const response = await request(`${server.url}${PROFILE_PATH}`, { method: 'GET', headers: { Authorization: basicFor(account) } });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');

    const profile = response.body as Record<string, unknown>;
    assert.deepEqual(Object.keys(profile).sort(), FIELD_NAMES);

    for (const [name, field] of Object.entries(FIELDS)) {
      const value = profile[name];
      if (value === null) {
        assert.ok(field.nullable, `${name} is null but not nullable`);
        continue;
      }
      switch (field.type) {
        case 'string':
          assert.equal(typeof value, 'string', `${name} is ${JSON.stringify(value)}`);
          break;
        case 'boolean':
          assert.equal(typeof value, 'boolean', `${name} is ${JSON.stringify(value)}`);
          break;
        case 'decimal':
          assert.equal(typeof value, 'string', `${name} is ${JSON.stringify(value)}`);
          assert.match(value as string, DECIMAL_TEXT, name);
          break;
        case 'dict':
          assert.equal(typeof value, 'object', `${name} is ${JSON.stringify(value)}`);
          assert.ok(!Array.isArray(value), `${name} is a list`);
          break;
        case 'datetime':
          assert.match(String(value), ISO_WITH_UTC_OFFSET, name);
          break;
      }
    }

    assert.equal(profile.uuid, account.uuid);
    assert.match(String(profile.uuid), UUID);
    assert.equal(profile.email, account.email);
    assert.equal(profile.state, 'NEW_USER');
    assert.deepEqual(profile.meta, {});

    const signupTime = Date.parse(String(profile.signup_time));
    assert.ok(Math.abs(signupTime - startedAt) < 60_000, `signup_time ${String(profile.signup_time)} is not near now`);
  });

  test('new account has the documented defaults', async () => {
    const profile = await getProfile(await newAccount('defaults'));

    for (const name of ['address', 'company', 'country', 'first_name', 'last_name', 'nickname', 'phone', 'reseller', 'title', 'town', 'vat']) {
      assert.equal(profile[name], '', name);
    }
    assert.equal(profile.clone_naming, 'NONE');
    assert.equal(profile.language, 'EN');
    assert.equal(profile.invoicing, true);
    assert.equal(profile.mailing_list, true);
    for (const name of ['api_https_only', 'has_autotopup', 'has_tx_autotopup', 'key_auth']) assert.equal(profile[name], false, name);
    for (const name of fieldsOf('decimal')) assert.equal(Number(profile[name]), 0, name);
  });

  test('HEAD returns headers only', async () => {
    const account = await newAccount('head');
    const response = await asSession(account, 'HEAD', PROFILE_PATH);
    assert.equal(response.status, 200);
    assert.equal(response.text, '');
  });

  test('unauthenticated is 401 with a challenge', async () => {
    for (const method of ['GET', 'PUT']) {
      const response = await request(`${server.url}${PROFILE_PATH}`, { method, ...(method === 'PUT' ? { body: { company: 'x' } } : {}) });
      assert.equal(response.status, 401, `${method}: ${response.text}`);
      assert.equal(errorList(response)[0]?.error_type, 'permission');
      assert.match(response.headers.get('www-authenticate') ?? '', /Basic realm=/, method);
    }
  });
});

describe('GET /profile/schema/', () => {
  test('lists every field with its flags', async () => {
    const response = await request(`${server.url}${SCHEMA_PATH}`, { method: 'GET' });
    assert.equal(response.status, 200, response.text);

    const schema = response.body as {
      allowed_detail_http_methods: string[];
      allowed_list_http_methods: string[];
      default_format: string;
      fields: Record<string, { type: string; readonly: boolean; nullable: boolean; help_text: string; blank: boolean; unique: boolean }>;
    };
    assert.deepEqual(schema.allowed_detail_http_methods, ['get', 'put']);
    assert.deepEqual(schema.allowed_list_http_methods, ['get', 'put']);
    assert.equal(schema.default_format, 'application/json');
    assert.deepEqual(Object.keys(schema.fields).sort(), FIELD_NAMES);

    for (const [name, expected] of Object.entries(FIELDS)) {
      const field = schema.fields[name];
      assert.ok(field, name);
      assert.equal(field.type, expected.type, `${name}.type`);
      assert.equal(field.readonly, expected.readonly, `${name}.readonly`);
      assert.equal(field.nullable, expected.nullable, `${name}.nullable`);
      assert.equal(typeof field.help_text, 'string', `${name}.help_text`);
      assert.equal(typeof field.blank, 'boolean', `${name}.blank`);
      assert.equal(typeof field.unique, 'boolean', `${name}.unique`);
    }
  });
});

describe('PUT /profile/', () => {
  let account: Account;

  before(async () => {
    account = await newAccount('put');
  });

  test('saves writable fields and returns the profile', async () => {
    const changes = {
      company: 'Acme Cloud',
      first_name: 'Ana',
      last_name: 'Ivanova',
      address: 'Ulitsa 1\nFloor 2',
      town: 'Plovdiv',
      country: 'BG',
      invoicing: false,
      key_auth: true,
      autotopup_amount: '26.73',
      tx_autotopup_threshold: '0E-16',
      meta: { price: '26.73', name: 'Daniel' },
      my_notes: null,
      postcode: null,
    };
    const saved = await putProfile(account, changes);
    assert.equal(saved.status, 200, saved.text);

    const body = saved.body as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), FIELD_NAMES);
    for (const [name, value] of Object.entries(changes)) assert.deepEqual(body[name], value, name);
    assert.equal(body.uuid, account.uuid);

    assert.deepEqual(await getProfile(account), body);
  });

  test('later PUT keeps earlier values', async () => {
    assert.equal((await putProfile(account, { company: 'First Company', town: 'Varna' })).status, 200);
    const saved = await putProfile(account, { town: 'Burgas' });
    assert.equal(saved.status, 200, saved.text);

    const profile = await getProfile(account);
    assert.equal(profile.company, 'First Company');
    assert.equal(profile.town, 'Burgas');
  });

  test('empty object changes nothing', async () => {
    const before = await getProfile(account);
    const saved = await putProfile(account, {});
    assert.equal(saved.status, 200, saved.text);
    assert.deepEqual(saved.body, before);
  });

  test('read-only fields are ignored', async () => {
    const before = await getProfile(account);
    const saved = await putProfile(account, {
      uuid: randomUUID(),
      email: 'someone.else@example.com',
      state: 'REGULAR',
      signup_time: '2014-08-25T14:34:33.868186+00:00',
      currency: 'EUR',
      bank_reference: 'jdoe123',
      network_restrictions: '10.0.0.0/8',
      tax_name: 'VAT',
      tax_rate: '20',
      company: 'Read-only Test',
    });
    assert.equal(saved.status, 200, saved.text);

    const body = saved.body as Record<string, unknown>;
    for (const name of ['uuid', 'email', 'state', 'signup_time', 'currency', 'bank_reference', 'network_restrictions', 'tax_name', 'tax_rate']) {
      assert.deepEqual(body[name], before[name], name);
    }
    assert.equal(body.state, 'NEW_USER');
    assert.equal(body.company, 'Read-only Test');
    assert.deepEqual(await getProfile(account), body);
  });

  test('unknown field is 400', async () => {
    const before = await getProfile(account);
    assertInvalid(await putProfile(account, { colour: 'red' }), ['colour'], 'colour');
    assertInvalid(await putProfile(account, { company: 'Fine', Company: 'Case matters' }), ['Company'], 'Company');
    assertInvalid(await putProfile(account, { __proto_field: 1 }), ['__proto_field'], '__proto_field');
    assert.deepEqual(await getProfile(account), before);
  });

  test('every wrong type is 400 on its field', async () => {
    const before = await getProfile(account);
    const cases: Array<[string, unknown]> = [];

    for (const name of fieldsOf('string')) {
      for (const value of [42, 0, true, false, {}, { text: 'x' }, [], ['x']]) cases.push([name, value]);
    }
    for (const name of fieldsOf('boolean')) {
      for (const value of ['true', 'false', '', 1, 0, {}, [], null]) cases.push([name, value]);
    }
    for (const name of fieldsOf('decimal')) {
      for (const value of [26.73, 0, 1, 'abc', '-1', '-0.5', '', ' 1', '1,5', '1.', '.5', 'NaN', 'Infinity', '0x10', '1e99', true, {}, [], null]) {
        cases.push([name, value]);
      }
    }
    for (const value of [[], ['a'], { a: 1 }, { a: null }, { a: true }, { a: {} }, { a: ['b'] }, null, 'text', 5, true]) {
      cases.push(['meta', value]);
    }
    for (const name of fieldsOf('string').filter((field) => !FIELDS[field]?.nullable)) cases.push([name, null]);

    for (const [name, value] of cases) {
      assertInvalid(await putProfile(account, { [name]: value }), [name], `${name} = ${JSON.stringify(value)}`);
    }
    assert.deepEqual(await getProfile(account), before);
  });

  test('nullable fields take null', async () => {
    const saved = await putProfile(account, { my_notes: null, postcode: null });
    assert.equal(saved.status, 200, saved.text);
    assert.equal((saved.body as Record<string, unknown>).my_notes, null);
    assert.equal((saved.body as Record<string, unknown>).postcode, null);
  });

  test('strings over the length limit are 400', async () => {
    assertInvalid(await putProfile(account, { company: 'c'.repeat(256) }), ['company'], 'company 256');
    assertInvalid(await putProfile(account, { address: 'a'.repeat(1025) }), ['address'], 'address 1025');
    assertInvalid(await putProfile(account, { first_name: 'f'.repeat(10_000) }), ['first_name'], 'first_name 10000');

    const atLimit = await putProfile(account, { company: 'c'.repeat(255), address: 'a'.repeat(1024) });
    assert.equal(atLimit.status, 200, atLimit.text);

    // The limit is in characters, so 255 two-byte letters fit as well as 255 ASCII ones.
    const nonAscii = await putProfile(account, { company: 'ö'.repeat(255) });
    assert.equal(nonAscii.status, 200, nonAscii.text);
    assert.equal((nonAscii.body as Record<string, unknown>).company, 'ö'.repeat(255));
  });

  test('invalid country codes are 400', async () => {
    for (const country of ['XX', 'BGR', '1', 'B', 'bg ', 'ZZ', '12']) {
      assertInvalid(await putProfile(account, { country }), ['country'], `country ${JSON.stringify(country)}`);
    }
  });

  test('lowercase country is stored uppercase', async () => {
    const saved = await putProfile(account, { country: 'de' });
    assert.equal(saved.status, 200, saved.text);
    assert.equal((saved.body as Record<string, unknown>).country, 'DE');
    assert.equal((await getProfile(account)).country, 'DE');

    const cleared = await putProfile(account, { country: '' });
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal((cleared.body as Record<string, unknown>).country, '');
  });

  test('several bad fields are all listed', async () => {
    const before = await getProfile(account);
    const response = await putProfile(account, {
      company: 1,
      invoicing: 'yes',
      colour: 'red',
      autotopup_amount: 5,
      country: 'XX',
      first_name: 'Valid Name',
    });

    assertInvalid(response, ['autotopup_amount', 'colour', 'company', 'country', 'invoicing'], 'several');
    for (const entry of errorList(response)) assert.ok(entry.error_message.length > 0);
    assert.deepEqual(await getProfile(account), before, 'nothing was saved');
  });

  test('body that is not an object is 400', async () => {
    for (const raw of ['[]', '"text"', '42', 'null', '{"company": ']) {
      const response = await asSession(account, 'PUT', PROFILE_PATH, { raw, headers: { 'Content-Type': 'application/json' } });
      assert.equal(response.status, 400, `${raw}: ${response.text}`);
      assert.equal(errorList(response)[0]?.error_type, 'validation');
    }
  });

  test('control characters and lone surrogates are 400', async () => {
    for (const value of ['a\u0000b', 'bell\u0007', 'del\u007f']) {
      assertInvalid(await putProfile(account, { company: value }), ['company'], `company ${JSON.stringify(value)}`);
    }

    // A lone surrogate may be rejected while the body is parsed, before any field is looked at, so the error
    // point is not checked.
    for (const value of ['half \ud800 pair', 'other half \udc00']) {
      const response = await putProfile(account, { company: value });
      assert.equal(response.status, 400, `company ${JSON.stringify(value)}: ${response.text}`);
      assert.equal(errorList(response)[0]?.error_type, 'validation');
    }

    const allowed = await putProfile(account, { address: 'line one\r\nline two\tend', company: 'Emoji 🚀 Ltd' });
    assert.equal(allowed.status, 200, allowed.text);
    assert.equal((allowed.body as Record<string, unknown>).company, 'Emoji 🚀 Ltd');
  });

  test('meta over its limits is 400', async () => {
    const tooManyKeys = Object.fromEntries(Array.from({ length: 101 }, (_, index) => [`key${index}`, 'v']));
    const cases: Array<[string, unknown]> = [
      ['101 keys', tooManyKeys],
      ['empty key', { '': 'v' }],
      ['65-character key', { ['k'.repeat(65)]: 'v' }],
      ['1025-character value', { key: 'v'.repeat(1025) }],
      ['control character in a value', { key: 'a\u0001' }],
    ];
    for (const [label, meta] of cases) {
      assertInvalid(await putProfile(account, { meta }), ['meta'], label);
    }

    // Each limit is tried on its own, because 100 keys of 64 characters with 1,024-character values would
    // exceed the 64 KiB body limit.
    const hundredKeys = Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`key${index}`, 'v']));
    const longest = { ['k'.repeat(64)]: 'v'.repeat(1024) };
    for (const meta of [hundredKeys, longest]) {
      const saved = await putProfile(account, { meta });
      assert.equal(saved.status, 200, saved.text);
      assert.deepEqual((saved.body as Record<string, unknown>).meta, meta);
    }
  });

  test('profile read back and sent whole is accepted', async () => {
    const target = await newAccount('roundtrip');
    const before = await getProfile(target);

    const saved = await putProfile(target, before);
    assert.equal(saved.status, 200, saved.text);
    assert.deepEqual(saved.body, before);
  });

  test('concurrent PUTs of different fields all persist', async () => {
    const target = await newAccount('concurrent');
    const changes: Record<string, string> = {
      company: 'Parallel Ltd',
      first_name: 'Pat',
      last_name: 'Parallel',
      town: 'Ruse',
      phone: '+359 2 000 0000',
      vat: 'BG000000000',
      title: 'Dr',
      nickname: 'pp',
    };

    const responses = await Promise.all(Object.entries(changes).map(([name, value]) => putProfile(target, { [name]: value })));
    for (const response of responses) assert.equal(response.status, 200, response.text);

    const profile = await getProfile(target);
    for (const [name, value] of Object.entries(changes)) assert.equal(profile[name], value, name);
  });

  test('CloudSigma update example is accepted', async () => {
    const target = await newAccount('example');
    const saved = await putProfile(target, CLOUDSIGMA_UPDATE_EXAMPLE);
    assert.equal(saved.status, 200, saved.text);

    const body = saved.body as Record<string, unknown>;
    for (const [name, value] of Object.entries(CLOUDSIGMA_UPDATE_EXAMPLE)) {
      if (FIELDS[name]?.readonly) continue;
      assert.deepEqual(body[name], value, name);
    }
    assert.equal(body.uuid, target.uuid);
    assert.equal(body.email, target.email);
    assert.equal(body.state, 'NEW_USER');
    assert.notEqual(body.signup_time, CLOUDSIGMA_UPDATE_EXAMPLE.signup_time);
    assert.deepEqual(await getProfile(target), body);
  });
});

describe('profile CSRF', () => {
  test('session PUT needs X-CSRFToken', async () => {
    const account = await newAccount('csrf');
    const before = await getProfile(account);

    const missing = await request(`${server.url}${PROFILE_PATH}`, { method: 'PUT', cookies: account.cookies, body: { company: 'No Token' } });
    assert.equal(missing.status, 403, missing.text);
    assert.equal(errorList(missing)[0]?.error_type, 'permission');

    const wrong = await asSession(account, 'PUT', PROFILE_PATH, { body: { company: 'Wrong Token' }, headers: { 'X-CSRFToken': 'x'.repeat(43) } });
    assert.equal(wrong.status, 403, wrong.text);
    assert.deepEqual(await getProfile(account), before, 'a rejected PUT saves nothing');

    const withToken = await putProfile(account, { company: 'With Token' });
    assert.equal(withToken.status, 200, withToken.text);
    assert.equal((withToken.body as Record<string, unknown>).company, 'With Token');
  });
});

describe('profile methods', () => {
  let account: Account;

  before(async () => {
    account = await newAccount('methods');
  });

  test('DELETE, POST and PATCH are 405', async () => {
    for (const method of ['DELETE', 'POST', 'PATCH']) {
      const response = await asSession(account, method, PROFILE_PATH, method === 'DELETE' ? {} : { body: { company: 'x' } });
      assert.equal(response.status, 405, `${method}: ${response.text}`);
      assert.equal(errorList(response)[0]?.error_type, 'validation');

      const allowed = (response.headers.get('allow') ?? '').split(',').map((entry) => entry.trim());
      assert.ok(allowed.includes('GET'), `${method}: Allow ${allowed.join(', ')}`);
      assert.ok(allowed.includes('PUT'), `${method}: Allow ${allowed.join(', ')}`);
      for (const rejected of ['DELETE', 'POST', 'PATCH']) assert.ok(!allowed.includes(rejected), `${method}: Allow lists ${rejected}`);
    }
  });

  test('OPTIONS lists the methods', async () => {
    const response = await request(`${server.url}${PROFILE_PATH}`, { method: 'OPTIONS' });
    assert.equal(response.status, 200, response.text);

    const allowed = (response.headers.get('allow') ?? '').split(',').map((entry) => entry.trim());
    for (const method of ['GET', 'PUT', 'OPTIONS']) assert.ok(allowed.includes(method), `Allow ${allowed.join(', ')}`);
    assert.ok(!allowed.includes('DELETE'));
  });
});

describe('profile CSRF over HTTPS', () => {
  let httpsServer: TestServer;
  let account: Account;

  before(async () => {
    httpsServer = await startTestServer({
      SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
      PUBLIC_URL: 'https://accounts.test',
      TRUSTED_PROXIES: '127.0.0.1',
    });
    account = await activeAccount(httpsServer.url, smtp, uniqueAddress('https'));
  });

  after(async () => {
    await httpsServer.stop();
  });

  /** Sends a session PUT as a TLS-terminating proxy on 127.0.0.1 would forward it, with the CSRF token and `headers`. */
  function forwardedPut(headers: Record<string, string>): Promise<ApiResponse> {
    return request(`${httpsServer.url}${PROFILE_PATH}`, {
      method: 'PUT',
      cookies: account.cookies,
      body: { company: 'Over HTTPS' },
      headers: { 'X-Forwarded-Proto': 'https', 'X-CSRFToken': account.cookies.csrftoken ?? '', ...headers },
    });
  }

  test('token without Origin or Referer is 403', async () => {
    const response = await forwardedPut({});
    assert.equal(response.status, 403, response.text);
    assert.equal(errorList(response)[0]?.error_type, 'permission');
  });

  test('foreign or downgraded origin is 403', async () => {
    const cases: Array<Record<string, string>> = [
      { Origin: 'https://evil.test' },
      { Referer: 'https://evil.test/api/2.0/' },
      { Referer: 'http://accounts.test/api/2.0/' },
      { Referer: 'https://accounts.test.evil.test/' },
      { Origin: 'null' },
      { Referer: 'not a url' },
    ];
    for (const headers of cases) {
      const response = await forwardedPut(headers);
      assert.equal(response.status, 403, `${JSON.stringify(headers)}: ${response.text}`);
    }
  });

  test('same-origin Referer or Origin is accepted', async () => {
    const cases: Array<Record<string, string>> = [{ Referer: 'https://accounts.test/api/2.0/' }, { Origin: 'https://accounts.test' }];
    for (const headers of cases) {
      const response = await forwardedPut(headers);
      assert.equal(response.status, 200, `${JSON.stringify(headers)}: ${response.text}`);
    }
  });
});
