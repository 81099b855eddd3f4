import { domainToASCII } from 'node:url';

export interface EmailAddress {
  /** Trimmed, with the domain lower-cased and IDNA-encoded: the form mail is sent to. */
  address: string;
  /** The address lower-cased: two addresses with the same key are the same account. */
  key: string;
}

export type ParsedEmail = { ok: true; email: EmailAddress } | { ok: false; reason: string };

// RFC 5321 limits, in octets.
const MAX_LOCAL_PART = 64;
const MAX_ADDRESS = 254;

// RFC 5322 dot-atom characters of a local part.
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Parses an email address as the login name of an account.
 *
 * NOTE: local parts are limited to ASCII dot-atoms; quoted local parts and internationalised (RFC 6531)
 * local parts are rejected. Domains may be internationalised and are stored IDNA-encoded.
 */
export function parseEmailAddress(input: string): ParsedEmail {
  const trimmed = input.trim();
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
  return { ok: true, email: { address, key: address.toLowerCase() } };
}
