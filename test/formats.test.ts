import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';

import { XMLParser } from 'fast-xml-parser';

import { activeAccount, signUp, uniqueAddress } from './helpers/accounts.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const ACTION_PATH = '/api/2.0/accounts/action/';
const JSON_TYPE = 'application/json; charset=utf-8';
const XML_TYPE = 'application/xml; charset=utf-8';

let smtp: SmtpSink;
let server: TestServer;
let account: Awaited<ReturnType<typeof activeAccount>>;

/** A response read byte for byte: node:http neither adds `Accept-Encoding` nor decompresses, unlike fetch. */
interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON. A POST without one sends `{}`. */
  body?: unknown;
  /** Sends the session cookies of the test account. */
  loggedIn?: boolean;
}

function send(pathAndQuery: string, options: SendOptions = {}): Promise<RawResponse> {
  const method = options.method ?? 'POST';
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  else if (method === 'POST') body = '{}';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.loggedIn) {
    headers.Cookie = Object.entries(account.cookies)
      .map(([name, value]) => `${name}=${value}`)
      .join('; ');
  }

  return new Promise((resolve, reject) => {
    const outgoing = http.request(new URL(pathAndQuery, server.url), { method, headers, signal: AbortSignal.timeout(10_000) }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: raw, text: raw.toString('utf8') });
      });
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** POSTs the action `name` with an empty body. */
function postAction(name: string, options: SendOptions & { query?: string } = {}): Promise<RawResponse> {
  return send(`${ACTION_PATH}?do=${encodeURIComponent(name)}${options.query ?? ''}`, options);
}

// Attributes keep their "@_" prefix, values stay strings, and these names are lists even with one member.
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  isArray: (name) => name === 'error' || name === 'item' || name === 'entry',
});

type XmlObject = Record<string, unknown>;

/** Parses an XML body and returns its root element, after checking the declaration and that there is one root. */
function parseXml(response: RawResponse, rootName: string): XmlObject {
  assert.match(response.text, /^<\?xml version="1\.0" encoding="UTF-8"\?>/);

  const document = parser.parse(response.text, true) as XmlObject;
  assert.deepEqual(
    Object.keys(document).filter((key) => key !== '?xml'),
    [rootName],
  );
  const root = document[rootName];
  assert.equal(typeof root, 'object', `root <${rootName}> has no attributes or children: ${response.text}`);
  return root as XmlObject;
}

function parseJson(response: RawResponse): unknown {
  return JSON.parse(response.text) as unknown;
}

/** Asserts a one-entry error list in XML and returns the entry's fields. */
function xmlError(response: RawResponse): XmlObject {
  const errors = parseXml(response, 'errors');
  assert.equal(errors['@_type'], 'list');

  const entries = errors.error as XmlObject[];
  assert.equal(entries.length, 1);
  const entry = entries[0] as XmlObject;
  assert.equal(entry['@_type'], 'object');
  return entry;
}

describe('response formats', () => {
  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    server = await startTestServer({ SMTP_URL: smtpUrl });
    account = await activeAccount(server.url, smtp);
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  describe('JSON', () => {
    test('default without Accept', async () => {
      const response = await postAction('check_login_with_return_uuid', { loggedIn: true });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], JSON_TYPE);
      assert.deepEqual(parseJson(response), { uuid: account.uuid });
    });

    for (const accept of ['*/*', 'application/*', 'application/json', 'application/json, application/xml;q=0.5']) {
      test(`chosen by Accept ${accept}`, async () => {
        const response = await postAction('check_login_with_return_uuid', { loggedIn: true, headers: { Accept: accept } });

        assert.equal(response.status, 200);
        assert.equal(response.headers['content-type'], JSON_TYPE);
        assert.deepEqual(parseJson(response), { uuid: account.uuid });
      });
    }

    test('forced by format=json', async () => {
      const response = await postAction('check_login_with_return_uuid', {
        loggedIn: true,
        query: '&format=json',
        headers: { Accept: 'application/xml' },
      });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], JSON_TYPE);
      assert.deepEqual(parseJson(response), { uuid: account.uuid });
    });

    test('responses vary by Accept', async () => {
      const response = await postAction('check_login', { loggedIn: true });

      assert.equal(response.status, 200);
      assert.match(String(response.headers.vary), /\bAccept\b/);
    });
  });

  describe('XML', () => {
    test('uuid by Accept application/xml', async () => {
      const response = await postAction('check_login_with_return_uuid', { loggedIn: true, headers: { Accept: 'application/xml' } });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], XML_TYPE);
      const root = parseXml(response, 'response');
      assert.deepEqual(root, { '@_type': 'object', uuid: account.uuid });
    });

    test('uuid by Accept text/xml', async () => {
      const response = await postAction('check_login_with_return_uuid', { loggedIn: true, headers: { Accept: 'text/xml' } });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], 'text/xml; charset=utf-8');
      assert.deepEqual(parseXml(response, 'response'), { '@_type': 'object', uuid: account.uuid });
    });

    test('uuid by format=xml', async () => {
      const response = await postAction('check_login_with_return_uuid', { loggedIn: true, query: '&format=xml' });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], XML_TYPE);
      assert.deepEqual(parseXml(response, 'response'), { '@_type': 'object', uuid: account.uuid });
    });

    test('format=xml wins over Accept', async () => {
      const response = await postAction('check_login_with_return_uuid', {
        loggedIn: true,
        query: '&format=xml',
        headers: { Accept: 'application/json' },
      });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], XML_TYPE);
      assert.deepEqual(parseXml(response, 'response'), { '@_type': 'object', uuid: account.uuid });
    });

    test('last format parameter counts', async () => {
      const response = await postAction('check_login_with_return_uuid', { loggedIn: true, query: '&format=json&format=xml' });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], XML_TYPE);
    });

    test('XML preferred over wildcard', async () => {
      const response = await postAction('check_login', { loggedIn: true, headers: { Accept: '*/*, application/xml' } });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], XML_TYPE);
    });

    test('empty object', async () => {
      const response = await postAction('check_login', { loggedIn: true, headers: { Accept: 'application/xml' } });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], XML_TYPE);
      assert.deepEqual(parseXml(response, 'response'), { '@_type': 'object' });
    });

    test('error list on 401', async () => {
      const response = await postAction('check_login', { headers: { Accept: 'application/xml' } });

      assert.equal(response.status, 401);
      assert.equal(response.headers['content-type'], XML_TYPE);
      assert.ok(response.headers['www-authenticate'], 'a 401 carries a challenge');

      const entry = xmlError(response);
      assert.equal(entry.error_type, 'permission');
      assert.equal(typeof entry.error_message, 'string');
      assert.notEqual(entry.error_message, '');
      assert.deepEqual(entry.error_point, { '@_type': 'null' });
    });

    test('error list on 404', async () => {
      const response = await send('/api/2.0/no-such-resource/?format=xml', { method: 'GET' });

      assert.equal(response.status, 404);
      assert.equal(response.headers['content-type'], XML_TYPE);
      assert.equal(xmlError(response).error_type, 'notexist');
    });

    test('markup and control characters escaped', async () => {
      // The unknown action name comes back inside the error message.
      const name = `<a href="x">&amp;</a> ]]> 'q' \u0001 \u00e9\u{1F600}`;
      const response = await postAction(name, { headers: { Accept: 'application/xml' } });

      assert.equal(response.status, 400);
      assert.equal(response.headers['content-type'], XML_TYPE);
      assert.doesNotMatch(response.text, /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/, 'no character that XML 1.0 forbids');

      const entry = xmlError(response);
      assert.equal(entry.error_type, 'validation');
      assert.equal(entry.error_point, 'do');
      // U+0001 cannot appear in XML 1.0, so it is replaced with U+FFFD. Everything else comes back unchanged.
      assert.ok(String(entry.error_message).includes(`"<a href="x">&amp;</a> ]]> 'q' \uFFFD \u00e9\u{1F600}"`), String(entry.error_message));
    });

    test('profile meta keys kept', async () => {
      const meta = {
        plain: 'a & b',
        'two words': '<b>bold</b>',
        '1st': '"quoted"',
        'a:b': "it's",
        xmlish: 'reserved prefix',
        '<tag attr="x">': 'markup in the key',
      };
      const basic = `Basic ${Buffer.from(`${account.email}:${account.password}`).toString('base64')}`;
      const updated = await send('/api/2.0/profile/', { method: 'PUT', body: { meta }, headers: { Authorization: basic } });
      assert.equal(updated.status, 200, updated.text);

      const response = await send('/api/2.0/profile/?format=xml', { method: 'GET', headers: { Authorization: basic } });
      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], XML_TYPE);

      const element = parseXml(response, 'response').meta as XmlObject;
      assert.equal(element['@_type'], 'object');
      const entries = (element.entry ?? []) as XmlObject[];
      const read: Record<string, unknown> = { plain: element.plain };
      for (const entry of entries) read[String(entry['@_key'])] = entry['#text'];
      assert.deepEqual(read, meta);
    });

    test('list members as items', async () => {
      const response = await send(`${ACTION_PATH}?format=xml`, { method: 'OPTIONS' });

      assert.equal(response.status, 200);
      const root = parseXml(response, 'response');
      const methods = root.methods as XmlObject;
      assert.equal(methods['@_type'], 'list');
      assert.deepEqual(methods.item, ['POST', 'OPTIONS']);
    });
  });

  describe('rejected requests', () => {
    for (const accept of ['text/html', 'image/png']) {
      test(`406 for Accept ${accept}`, async () => {
        const response = await postAction('check_login', { loggedIn: true, headers: { Accept: accept } });

        assert.equal(response.status, 406);
        assert.equal(response.headers['content-type'], JSON_TYPE);
        const body = parseJson(response) as Array<Record<string, unknown>>;
        assert.equal(body.length, 1);
        assert.equal(body[0]?.error_type, 'validation');
        assert.equal(body[0]?.error_point, null);
      });
    }

    test('unknown format is 400', async () => {
      const response = await postAction('check_login', { loggedIn: true, query: '&format=yaml' });

      assert.equal(response.status, 400);
      assert.equal(response.headers['content-type'], JSON_TYPE);
      const body = parseJson(response) as Array<Record<string, unknown>>;
      assert.equal(body.length, 1);
      assert.equal(body[0]?.error_type, 'validation');
      assert.equal(body[0]?.error_point, 'format');
    });
  });

  describe('gzip', () => {
    test('JSON compressed when accepted', async () => {
      const response = await postAction('check_login_with_return_uuid', { loggedIn: true, headers: { 'Accept-Encoding': 'gzip' } });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-encoding'], 'gzip');
      assert.equal(response.headers['content-type'], JSON_TYPE);
      assert.match(String(response.headers.vary), /accept-encoding/i);
      assert.deepEqual(JSON.parse(gunzipSync(response.body).toString('utf8')), { uuid: account.uuid });
    });

    test('XML compressed when accepted', async () => {
      const response = await postAction('check_login_with_return_uuid', {
        loggedIn: true,
        headers: { Accept: 'application/xml', 'Accept-Encoding': 'gzip' },
      });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-encoding'], 'gzip');
      const decoded = { ...response, text: gunzipSync(response.body).toString('utf8') };
      assert.deepEqual(parseXml(decoded, 'response'), { '@_type': 'object', uuid: account.uuid });
    });

    test('error list compressed', async () => {
      const response = await postAction('check_login', { headers: { 'Accept-Encoding': 'gzip' } });

      assert.equal(response.status, 401);
      assert.equal(response.headers['content-encoding'], 'gzip');
      const body = JSON.parse(gunzipSync(response.body).toString('utf8')) as Array<Record<string, unknown>>;
      assert.equal(body[0]?.error_type, 'permission');
    });

    test('plain without Accept-Encoding', async () => {
      const response = await postAction('check_login_with_return_uuid', { loggedIn: true });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-encoding'], undefined);
      assert.deepEqual(parseJson(response), { uuid: account.uuid });
    });

    test('plain for other encodings', async () => {
      const response = await postAction('check_login_with_return_uuid', { loggedIn: true, headers: { 'Accept-Encoding': 'br' } });

      assert.equal(response.status, 200);
      assert.equal(response.headers['content-encoding'], undefined);
      assert.deepEqual(parseJson(response), { uuid: account.uuid });
    });
  });

  describe('confirmation page', () => {
    test('stays uncompressed HTML', async () => {
      const { token } = await signUp(server.url, smtp, uniqueAddress('page'));
      const response = await send(`/accounts/confirm/?token=${encodeURIComponent(token)}&format=xml`, {
        method: 'GET',
        headers: { Accept: 'text/html', 'Accept-Encoding': 'gzip' },
      });

      assert.equal(response.status, 200);
      assert.match(String(response.headers['content-type']), /^text\/html/);
      assert.equal(response.headers['content-encoding'], undefined);
      assert.match(response.text, /<form id="action-form"/);
    });
  });
});
