import { domainToASCII } from 'node:url';

import { codePoint } from '../http/control-characters.js';

export interface EmailAddress {
  /** Trimmed, with the domain lower-cased and IDNA-encoded: the form mail is sent to. */
  address: string;
  /** The address under emailKeyOf: two addresses with the same key are the same account. */
  key: string;
}

export type ParsedEmail = { ok: true; email: EmailAddress } | { ok: false; reason: string };

// RFC 5321 limits, in octets.
const MAX_LOCAL_PART = 64;
const MAX_ADDRESS = 254;

// RFC 5322 dot-atom characters of a local part.
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

// Characters that render as nothing: controls, format characters (U+200B zero width space, U+00AD soft
// hyphen, bidirectional marks) and the rest of Unicode's default-ignorable code points.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/u;

/**
 * Returns the key under which an address is unique: NFKC, then upper-cased and lower-cased again, so that
 * look-alike spellings of one address share one key. JavaScript has no Unicode case folding, so the round
 * trip replaces it: like full case folding it maps ß to ss, and it also maps dotless ı to i.
 */
export function emailKeyOf(address: string): string {
  return address.normalize('NFKC').toUpperCase().toLowerCase();
}

/**
 * Parses an email address as the login name of a new account, or as the new address of an account.
 * Characters that NFKC would change (fullwidth letters, compatibility forms, decomposed accents) and
 * invisible characters are rejected rather than mapped. So the address stored and mailed is the one the
 * person typed, apart from trimming and the lower-casing and IDNA encoding of the domain.
 *
 * NOTE: local parts are limited to ASCII dot-atoms; quoted local parts and internationalised (RFC 6531)
 * local parts are rejected. Domains may be internationalised and are stored IDNA-encoded.
 */
export function parseEmailAddress(input: string): ParsedEmail {
  const trimmed = input.trim();

  const invisible = INVISIBLE.exec(trimmed)?.[0];
  if (invisible !== undefined) {
    return { ok: false, reason: `email contains the invisible character ${codePoint(invisible)}; remove it` };
  }
  if (trimmed.normalize('NFKC') !== trimmed) return { ok: false, reason: compatibilityReason(trimmed) };

  return parseNormalized(trimmed);
}

/**
 * Parses an address given to find an existing account (a login name, a password reset request). The input
 * is mapped to NFKC and its local part through emailKeyOf first, so a look-alike spelling finds the account
 * of the address it imitates. Mail always goes to the address stored with the account, never to this one.
 */
export function parseEmailForLookup(input: string): ParsedEmail {
  const normal = input.trim().normalize('NFKC');
  const at = normal.lastIndexOf('@');

  // The domain is left to IDNA's own mapping in parseNormalized, which keeps ß apart from ss as sign-up did.
  return parseNormalized(at === -1 ? normal : `${emailKeyOf(normal.slice(0, at))}${normal.slice(at)}`);
}

function parseNormalized(trimmed: string): ParsedEmail {
  const at = trimmed.lastIndexOf('@');

  if (at <= 0 || at === trimmed.length - 1) {
    return { ok: false, reason: 'email must be an address of the form name@example.com' };
  }

  const localPart = trimmed.slice(0, at);
  if (!LOCAL_PART.test(localPart)) {
    return {
      ok: false,
      reason: 'email must have a part before the @ made of ASCII letters, digits, dots and !#$%&\'*+/=?^_`{|}~-',
    };
  }
  if (localPart.length > MAX_LOCAL_PART) {
    return { ok: false, reason: `email must have at most ${MAX_LOCAL_PART} characters before the @` };
  }

  const domain = domainToASCII(trimmed.slice(at + 1).toLowerCase());
  const labels = domain.split('.');
  // A numeric last label means an IP address (domainToASCII rewrites forms such as 1.2 to 1.0.0.2), and
  // address literals are not accepted.
  const topLevel = labels[labels.length - 1] ?? '';
  if (domain === '' || labels.length < 2 || !labels.every((label) => DOMAIN_LABEL.test(label)) || /^\d+$/.test(topLevel)) {
    return { ok: false, reason: 'email must end in a valid domain name such as example.com' };
  }

  const address = `${localPart}@${domain}`;
  if (address.length > MAX_ADDRESS) {
    return { ok: false, reason: `email must be at most ${MAX_ADDRESS} characters long` };
  }
  return { ok: true, email: { address, key: emailKeyOf(address) } };
}

/** Names the first character of `text` that NFKC changes, and what it would become. */
function compatibilityReason(text: string): string {
  for (const character of text) {
    const normal = character.normalize('NFKC');
    if (normal !== character) {
      return `email contains ${codePoint(character)}, a compatibility form of ${JSON.stringify(normal)}; type ${JSON.stringify(normal)} instead`;
    }
  }
  // Every character is stable alone, so a combination changes: a letter followed by a combining mark.
  return 'email contains a letter followed by a combining mark; type the accented letter as one character';
}
