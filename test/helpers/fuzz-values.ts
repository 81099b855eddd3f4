import fc from 'fast-check';

/** The values of the fuzz test's accounts that generated requests may name. */
export const FIXTURE_NAMES = [
  'alice.email',
  'alice.password',
  'alice.sessionid',
  'alice.csrftoken',
  'alice.publicId',
  'bob.email',
  'bob.password',
  'bob.sessionid',
  'bob.csrftoken',
  'bob.publicId',
  'carol.email',
  'carol.password',
  'pending.email',
  'disabled.email',
  'disabled.password',
  'unknown.email',
  'token.confirm',
  'token.reset',
  'token.email',
  'digest.nonce',
] as const;

export type FixtureName = (typeof FIXTURE_NAMES)[number];

/** How a fixture value is altered before it is sent: kept, upper-cased, padded with spaces, cut or with its last character changed. */
export type RefVariant = 'exact' | 'upper' | 'padded' | 'truncated' | 'flipped';

/**
 * A fixture value that is looked up when the request is sent, because sessions and accounts are replaced
 * during a run. Generated requests stay plain data, so fast-check can print and shrink them.
 */
export class FixtureRef {
  constructor(
    readonly name: FixtureName,
    readonly variant: RefVariant = 'exact',
  ) {}

  [fc.toStringMethod](): string {
    return this.variant === 'exact' ? `ref(${this.name})` : `ref(${this.name}, ${this.variant})`;
  }
}

/** Applies a FixtureRef's variant to the current value of its fixture. */
export function alterFixtureValue(value: string, variant: RefVariant): string {
  switch (variant) {
    case 'exact':
      return value;
    case 'upper':
      return value.toUpperCase();
    case 'padded':
      return `  ${value}\t`;
    case 'truncated':
      return value.slice(0, Math.floor(value.length / 2));
    case 'flipped':
      return value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A');
  }
}

/** A string, or a fixture value filled in at send time. */
export type Text = string | FixtureRef;

/** A JSON value whose strings may be fixture references. */
export type JsonWithRefs = null | boolean | number | string | FixtureRef | JsonWithRefs[] | { [key: string]: JsonWithRefs };

export function ref(name: FixtureName, variants: RefVariant[] = ['exact']): fc.Arbitrary<FixtureRef> {
  return fc.constantFrom(...variants).map((variant) => new FixtureRef(name, variant));
}

/** Generates strings that Node's HTTP client accepts in a header value: tab, visible ASCII, space and Latin-1. */
export function headerText(maxLength = 40): fc.Arbitrary<string> {
  const character = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
    { weight: 1, arbitrary: fc.constant(0x09) },
  );
  return fc.string({ unit: character.map((code) => String.fromCharCode(code)), maxLength });
}

/** Generates any string, including lone surrogates, control characters and astral characters. */
export function anyText(maxLength = 40): fc.Arbitrary<string> {
  return fc.oneof(fc.string({ maxLength }), fc.string({ unit: 'grapheme', maxLength }), fc.string({ unit: 'binary', maxLength }));
}

/** Generates strings longer than the server's field limits, of single-byte or multi-byte characters. */
export function overlongText(): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom('a', 'é', '😀', ' '), fc.integer({ min: 1000, max: 20_000 })).map(([unit, count]) => unit.repeat(count));
}

const SECRET_CHARACTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Generates strings with the shape of the server's secrets (43 URL-safe base64 characters) that no secret has. */
export function secretShaped(): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...SECRET_CHARACTERS), minLength: 43, maxLength: 43 });
}

export function emailValue(): fc.Arbitrary<JsonWithRefs> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom<FixtureName>('alice.email', 'bob.email', 'carol.email', 'pending.email', 'disabled.email', 'unknown.email').chain((name) => ref(name, ['exact', 'exact', 'upper', 'padded', 'truncated'])) },
    { weight: 2, arbitrary: fc.emailAddress() },
    { weight: 1, arbitrary: anyText() },
    { weight: 1, arbitrary: fc.constantFrom('', '@', 'a@b', 'a@127.0.0.1', 'a@[127.0.0.1]', 'a@xn--', 'a@bücher.example', `${'l'.repeat(65)}@example.com`, `a@${'d'.repeat(250)}.com`) },
    { weight: 1, arbitrary: overlongText() },
  );
}

export function passwordValue(): fc.Arbitrary<JsonWithRefs> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom<FixtureName>('alice.password', 'bob.password', 'carol.password', 'disabled.password').chain((name) => ref(name, ['exact', 'exact', 'exact', 'upper', 'flipped'])) },
    { weight: 3, arbitrary: anyText(30) },
    { weight: 1, arbitrary: fc.constantFrom('', 'password', 'password123', 'iloveyou1', '12345678', 'Ａ'.repeat(8)) },
    { weight: 1, arbitrary: overlongText() },
    { weight: 1, arbitrary: ref('alice.email') },
  );
}

export function tokenValue(name: 'token.confirm' | 'token.reset' | 'token.email'): fc.Arbitrary<JsonWithRefs> {
  return fc.oneof(
    { weight: 4, arbitrary: ref(name, ['exact', 'exact', 'upper', 'truncated', 'flipped', 'padded']) },
    { weight: 1, arbitrary: fc.constantFrom<FixtureName>('token.confirm', 'token.reset', 'token.email', 'alice.sessionid', 'alice.csrftoken').chain((other) => ref(other)) },
    { weight: 2, arbitrary: secretShaped() },
    { weight: 1, arbitrary: anyText() },
    { weight: 1, arbitrary: overlongText() },
  );
}

/** Generates JSON values of any shape and type, for fields and bodies of the wrong type. */
export function anyJson(): fc.Arbitrary<JsonWithRefs> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonWithRefs> },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' }) as fc.Arbitrary<JsonWithRefs> },
    { weight: 1, arbitrary: fc.constantFrom<JsonWithRefs>(0, -1, 1e308, 0.5, true, false, null, [], {}, '', [null], { '': '' }) },
  );
}
