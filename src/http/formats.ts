import compress from '@fastify/compress';
import XMLBuilder from 'fast-xml-builder';
import type { FastifyInstance } from 'fastify';

import { responseTypeOf } from './content-negotiation.js';

/**
 * Registers the response formats of the API besides JSON: XML bodies when content negotiation chose an XML
 * type, and gzip when the request sends `Accept-Encoding: gzip`. Both apply only to paths under /api/.
 */
export async function registerFormats(app: FastifyInstance): Promise<void> {
  // The compress plugin reads `compress` in its own onRoute hook, which runs after this one because the
  // plugin is registered later. Pages outside /api/, such as the confirmation page, stay uncompressed.
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/')) route.compress = false;
  });

  await app.register(compress, {
    encodings: ['gzip'],
    // Every body is compressed when the request accepts gzip, however small, because most API responses are
    // under the plugin's default threshold of 1,024 bytes. Gzip adds 20 bytes to `{}` (2 bytes become 22).
    threshold: 0,
    // Compressed request bodies are not part of the API, so they are not decompressed.
    globalDecompression: false,
  });

  // Fastify runs this hook before it serialises an object body of JSON type, as every handler result and
  // error list under /api/ is. The serializer set here then replaces JSON.stringify for this reply.
  app.addHook('preSerialization', async (request, reply, payload: unknown) => {
    if (!request.url.startsWith('/api/')) return payload;

    const type = responseTypeOf(request);
    if (type === 'application/json') return payload;

    reply.type(`${type}; charset=utf-8`);
    reply.serializer(toXml);
    return payload;
  });
}

/** A JSON value, as JSON.parse returns it. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One element in the builder's ordered form, which maps the name to the children and `:@` to the attributes. */
type XmlNode = Record<string, unknown>;

// A key becomes an element name only when it is an ASCII XML name without a colon (a colon would need a
// namespace) and does not start with the reserved "xml". Every other key goes into `<entry key="...">`.
const ELEMENT_NAME = /^(?!xml)[A-Za-z_][A-Za-z0-9_.-]*$/i;

// Characters that XML 1.0 cannot carry, not even as character references: C0 controls other than tab,
// line feed and carriage return, unpaired surrogates, U+FFFE and U+FFFF.
const NOT_XML_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

const ATTRIBUTE_PREFIX = '@_';

const builder = new XMLBuilder({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: ATTRIBUTE_PREFIX,
  suppressEmptyNode: true,
  suppressBooleanAttributes: false,
  // The builder escapes &, <, >, " and ' in text and attribute values.
  processEntities: true,
});

const XML_DECLARATION: XmlNode = {
  '?xml': [{ '#text': '' }],
  ':@': { [`${ATTRIBUTE_PREFIX}version`]: '1.0', [`${ATTRIBUTE_PREFIX}encoding`]: 'UTF-8' },
};

/**
 * Serialises a response body to XML. The layout, with every element except strings carrying a `type`
 * attribute (`object`, `list`, `number`, `boolean` or `null`):
 *
 * - the root is `<response>`, except for a CloudSigma error list, whose root is `<errors>` with one
 *   `<error>` element per entry;
 * - an object has one child per key, named after the key, or `<entry key="KEY">` when the key is not a
 *   plain XML name (keys of user data such as the profile's `meta` can be anything);
 * - a list has one `<item>` child per member;
 * - a string is the element's text, a number or boolean is its JSON text, and null is an empty element.
 *
 * `{"uuid": "u1"}` becomes `<response type="object"><uuid>u1</uuid></response>` after the XML declaration.
 * Characters that XML 1.0 cannot contain become U+FFFD.
 *
 * NOTE: XML parsers turn a carriage return in text into a line feed, and tabs and line breaks in a `key`
 * attribute into spaces, so those characters do not survive a round trip.
 * Bodies nested deeper than the builder's limit of 100 elements fail to serialise, which is a 500.
 */
export function toXml(payload: unknown): string {
  // A round trip through JSON gives the XML exactly the values of the JSON body: the results of toJSON,
  // no undefined members, and null for non-finite numbers.
  const body = JSON.parse(JSON.stringify(payload) ?? 'null') as Json;

  const root = isErrorList(body)
    ? element('errors', body.map((entry) => valueElement('error', entry)), { type: 'list' })
    : valueElement('response', body);

  return builder.build([XML_DECLARATION, root]);
}

function isErrorList(body: Json): body is Json[] {
  return (
    Array.isArray(body) &&
    body.length > 0 &&
    body.every((entry) => typeof entry === 'object' && entry !== null && !Array.isArray(entry) && 'error_type' in entry)
  );
}

function valueElement(name: string, value: Json, attributes: Record<string, string> = {}): XmlNode {
  if (value === null) return element(name, [], { ...attributes, type: 'null' });

  if (Array.isArray(value)) {
    return element(name, value.map((member) => valueElement('item', member)), { ...attributes, type: 'list' });
  }

  switch (typeof value) {
    case 'object': {
      const members = Object.entries(value).map(([key, member]) => memberElement(key, member));
      return element(name, members, { ...attributes, type: 'object' });
    }
    case 'string':
      return element(name, [{ '#text': xmlText(value) }], attributes);
    default:
      return element(name, [{ '#text': String(value) }], { ...attributes, type: typeof value });
  }
}

function memberElement(key: string, value: Json): XmlNode {
  return ELEMENT_NAME.test(key) ? valueElement(key, value) : valueElement('entry', value, { key: xmlText(key) });
}

function element(name: string, children: XmlNode[], attributes: Record<string, string>): XmlNode {
  const prefixed = Object.fromEntries(Object.entries(attributes).map(([attribute, value]) => [`${ATTRIBUTE_PREFIX}${attribute}`, value]));
  // A computed key is an own property even for a name such as "__proto__".
  return { [name]: children, ':@': prefixed };
}

function xmlText(value: string): string {
  return value.replace(NOT_XML_CHARACTER, '\uFFFD');
}
