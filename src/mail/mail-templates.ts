import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Mustache from 'mustache';

import { escapeHtml } from './messages.js';

/**
 * Every email template by name, with the placeholders that its message fills in. Each name has a
 * `NAME.txt` file (a `Subject:` line, an empty line, then the plain-text body) and a `NAME.html` file.
 */
export const MAIL_TEMPLATES = {
  confirmation: ['link', 'validFor'],
  'existing-account': [],
  'password-reset': ['link', 'validFor'],
  'password-changed': ['changedAt', 'byResetLink'],
  'email-change-link': ['link', 'validFor'],
  'email-change-address-taken': [],
  'email-change-requested': ['newAddress'],
  'two-factor-changed': ['state', 'enabled'],
} as const satisfies Record<string, readonly string[]>;

export type MailTemplateName = keyof typeof MAIL_TEMPLATES;

/** The values of one template's own placeholders: text, or a flag for `{{#name}}...{{/name}}` sections. */
export type MailValues<Name extends MailTemplateName> = Record<(typeof MAIL_TEMPLATES)[Name][number], string | boolean>;

/** Placeholders that every template may use, filled in by MailComposer. */
export const COMMON_PLACEHOLDERS = ['productName', 'serviceUrl'] as const;

/** Placeholders of HTML files only: the rendered Subject line, for instance for the <title>. */
const HTML_ONLY_PLACEHOLDERS = ['subject'];

/** The templates that ship with the package. The relative path is the same from src/mail/ under tsx and from dist/mail/. */
export const SHIPPED_TEMPLATES_DIR = fileURLToPath(new URL('../../templates/mail/', import.meta.url));

const SUBJECT_LINE = /^Subject:[ \t]*(.*)$/;

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

interface TemplateSources {
  subject: string;
  text: string;
  html: string;
}

/** A template file that cannot be used, or an override folder that cannot be read. */
export class MailTemplateError extends Error {
  override name = 'MailTemplateError';
}

/** The parsed and checked text and HTML templates of every message. */
export class MailTemplates {
  private constructor(private readonly sources: ReadonlyMap<MailTemplateName, TemplateSources>) {}

  /**
   * Reads the shipped templates, each replaced by the file of the same name in `overrideDir` when there is
   * one, and checks every file. Throws MailTemplateError naming the first file that does not parse, uses a
   * placeholder its message does not fill in, skips HTML escaping in HTML, or matches no template name.
   */
  static load(overrideDir: string | null): MailTemplates {
    const overrides = overrideDir === null ? new Set<string>() : templateFilesIn(overrideDir);
    const pathOf = (file: string) => path.join(overrideDir !== null && overrides.has(file) ? overrideDir : SHIPPED_TEMPLATES_DIR, file);
    const sources = new Map<MailTemplateName, TemplateSources>();

    for (const name of Object.keys(MAIL_TEMPLATES) as MailTemplateName[]) {
      const textFile = pathOf(`${name}.txt`);
      const htmlFile = pathOf(`${name}.html`);

      const { subject, text } = splitSubject(readTemplate(textFile), textFile);
      const html = readTemplate(htmlFile);
      const known = [...MAIL_TEMPLATES[name], ...COMMON_PLACEHOLDERS];

      checkTemplate(subject, textFile, known, { html: false, firstLine: 1 });
      checkTemplate(text, textFile, known, { html: false, firstLine: 3 });
      checkTemplate(html, htmlFile, [...known, ...HTML_ONLY_PLACEHOLDERS], { html: true, firstLine: 1 });
      sources.set(name, { subject, text, html });
    }
    return new MailTemplates(sources);
  }

  /** Renders one message. `values` must fill in every placeholder that load() accepted for `name`. */
  render(name: MailTemplateName, values: Record<string, string | boolean>): RenderedMail {
    const sources = this.sources.get(name);
    if (!sources) throw new Error(`no mail template named ${name}`);

    // The subject and the text part are plain text, so values go in verbatim, and only the HTML part is escaped.
    // A Subject header is one line, so any line break that a value or a section brought in becomes a space.
    const subject = Mustache.render(sources.subject, values, {}, { escape: verbatim }).replace(/\s+/g, ' ').trim();
    const text = Mustache.render(sources.text, values, {}, { escape: verbatim }).trimEnd();
    const html = Mustache.render(sources.html, { ...values, subject }, {}, { escape: escaped });
    return { subject, text, html };
  }
}

function verbatim(value: unknown): string {
  return String(value);
}

// Mustache passes each value to the escape function as it is, so a flag arrives as a boolean.
function escaped(value: unknown): string {
  return escapeHtml(String(value));
}

/** Lists the template files in an override folder, rejecting a `.txt` or `.html` file that matches no template. */
function templateFilesIn(dir: string): Set<string> {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (error) {
    throw new MailTemplateError(`${dir} cannot be read as a folder (${errorCode(error)})`);
  }

  const known = new Set(Object.keys(MAIL_TEMPLATES).flatMap((name) => [`${name}.txt`, `${name}.html`]));
  const files = new Set<string>();
  // Hidden entries are skipped, so that the `..data` links of a mounted Kubernetes ConfigMap do not count.
  for (const entry of entries.filter((entry) => !entry.startsWith('.') && /\.(txt|html)$/.test(entry))) {
    if (!known.has(entry)) {
      const names = Object.keys(MAIL_TEMPLATES).join(', ');
      throw new MailTemplateError(`${path.join(dir, entry)} is not a known template file. Name it NAME.txt or NAME.html, where NAME is one of ${names}`);
    }
    files.add(entry);
  }
  return files;
}

function readTemplate(file: string): string {
  try {
    // Line ends are normalized, so that a file saved with CRLF renders the same as one with LF.
    return fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '').replaceAll('\r\n', '\n');
  } catch (error) {
    throw new MailTemplateError(`${file} cannot be read (${errorCode(error)})`);
  }
}

/** Splits a text template into its `Subject:` line and the body after the empty line that follows it. */
function splitSubject(source: string, file: string): { subject: string; text: string } {
  const [first = '', second, ...rest] = source.split('\n');
  const subject = SUBJECT_LINE.exec(first)?.[1]?.trim() ?? '';

  if (subject === '' || second === undefined || second.trim() !== '') {
    throw new MailTemplateError(`${file} must start with a non-empty "Subject: ..." line followed by an empty line`);
  }
  return { subject, text: rest.join('\n') };
}

interface CheckOptions {
  html: boolean;
  /** Line number, in the file, of the first line of `source`, for messages. */
  firstLine: number;
}

type Token = [type: string, value: string, start: number, end: number, children?: unknown, ...rest: unknown[]];

/** Parses a template and throws MailTemplateError when it is malformed or uses a placeholder not in `known`. */
function checkTemplate(source: string, file: string, known: readonly string[], options: CheckOptions): void {
  const lineOf = (offset: number) => options.firstLine + (source.slice(0, offset).match(/\n/g)?.length ?? 0);

  let tokens: Token[];
  try {
    tokens = Mustache.parse(source) as Token[];
  } catch (error) {
    // Mustache ends its messages with "at OFFSET", a character offset into the template. For a tag or
    // section left open that offset is the end of the input, which is reported as the last non-empty line.
    const message = error instanceof Error ? error.message : String(error);
    const where = / at (\d+)$/.exec(message);
    const offset = Math.min(Number(where?.[1]), source.trimEnd().length);
    const problem = where ? `${message.slice(0, where.index)} on line ${lineOf(offset)}` : message;
    throw new MailTemplateError(`${file} is not a valid Mustache template: ${lowerFirst(problem)}`);
  }

  const problem = firstProblem(tokens, new Set(known), options.html);
  if (problem) throw new MailTemplateError(`${file} line ${lineOf(problem.offset)}: ${problem.message}`);
}

function firstProblem(tokens: Token[], known: Set<string>, html: boolean): { offset: number; message: string } | null {
  for (const [type, value, start, , children] of tokens) {
    if (type === 'text' || type === '!' || type === '=') continue;

    if (type === '>') return { offset: start, message: `partials such as {{> ${value}}} are not supported` };
    if (!known.has(value)) {
      return { offset: start, message: `unknown placeholder {{${value}}}. This template can use ${[...known].sort().join(', ')}` };
    }
    // Some values come from users, such as a new email address, so an HTML template must escape every value.
    if (type === '&' && html) {
      return { offset: start, message: `{{{${value}}}} and {{&${value}}} are not allowed in HTML templates because they skip HTML escaping. Write {{${value}}} instead` };
    }

    if ((type === '#' || type === '^') && Array.isArray(children)) {
      const nested = firstProblem(children as Token[], known, html);
      if (nested) return nested;
    }
  }
  return null;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : String(error);
}

function lowerFirst(value: string): string {
  return value.charAt(0).toLowerCase() + value.slice(1);
}
