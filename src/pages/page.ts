import type { FastifyInstance, FastifyReply } from 'fastify';

import { NO_CREDENTIALS, type OperationDocs } from '../api-docs/operation-docs.js';
import { registerResource } from '../http/resource.js';
import { escapeHtml } from '../mail/messages.js';
import { MIN_PASSWORD_LENGTH } from '../passwords/password-policy.js';
import { FORM_JS, PAGE_CSS } from './page-assets.js';

/** URL path under which the pages' style sheet and script are served. */
export const ASSETS_PATH = '/accounts/assets/';

// No inline script or style, no other origin, no framing; the token in the page URL is never sent on.
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
};

/** Registers the style sheet and the form script that every page loads. */
export function registerPageAssets(app: FastifyInstance): void {
  registerResource(app, `${ASSETS_PATH}page.css`, {
    GET: async (_request, reply) => sendAsset(reply, 'text/css; charset=utf-8', PAGE_CSS),
  }, { GET: assetDocs('The style sheet of the pages', 'text/css') });
  registerResource(app, `${ASSETS_PATH}form.js`, {
    GET: async (_request, reply) => sendAsset(reply, 'text/javascript; charset=utf-8', FORM_JS),
  }, { GET: assetDocs('The script of the pages with a form', 'text/javascript') });
}

/** Returns the OpenAPI entry of a style sheet or script of the pages. */
export function assetDocs(summary: string, mediaType: string): OperationDocs {
  return { tag: 'pages', summary, access: NO_CREDENTIALS, response: { description: summary, mediaType } };
}

/** Returns the OpenAPI entry of a page that an emailed link opens, with the link's token in `?token=`. */
export function linkPageDocs(summary: string): OperationDocs {
  return {
    tag: 'pages',
    summary,
    description: 'Opening the page only reads the token, because mail scanners open links before people do.',
    access: NO_CREDENTIALS,
    parameters: [{ name: 'token', in: 'query', required: true, description: 'The token from the emailed link.', schema: { type: 'string' } }],
    response: { description: 'The page with its form.', mediaType: 'text/html' },
    otherResponses: { 400: { description: 'A page that explains why the link cannot be used.', mediaType: 'text/html' } },
  };
}

/** Sends a style sheet or script of the pages, which browsers may keep for an hour. */
export function sendAsset(reply: FastifyReply, type: string, body: string): FastifyReply {
  return reply.type(type).headers({ 'Cache-Control': 'public, max-age=3600', 'X-Content-Type-Options': 'nosniff' }).send(body);
}

export interface FormPage {
  heading: string;
  /** Plain text, escaped here. */
  introduction: string;
  /** The action the form posts to, such as `confirm`. */
  action: string;
  token: string;
  /** Whether the form requests a new password twice. */
  newPassword: boolean;
  submitLabel: string;
  /** Shown when the action succeeds; the form is hidden then. */
  successMessage: string;
}

/**
 * Returns the body of a page with a form that posts its fields as JSON to an accounts action. The form
 * script (FORM_JS) sends every named input except `repeat`, which it only compares with `password`.
 */
export function formPageBody(page: FormPage): string {
  const passwordFields = page.newPassword
    ? `
  <label for="password">New password
    <span class="hint" id="password-hint">At least ${MIN_PASSWORD_LENGTH} characters. Common passwords and your email address are not accepted.</span>
    <input id="password" name="password" type="password" autocomplete="new-password" required minlength="${MIN_PASSWORD_LENGTH}" aria-describedby="password-hint">
  </label>
  <label for="repeat">Repeat the password
    <input id="repeat" name="repeat" type="password" autocomplete="new-password" required minlength="${MIN_PASSWORD_LENGTH}">
  </label>`
    : '';

  return `
<h1>${escapeHtml(page.heading)}</h1>
<p>${escapeHtml(page.introduction)}</p>
<div id="status" class="message" role="status" aria-live="polite" tabindex="-1"></div>
<form id="action-form" data-action="/api/2.0/accounts/action/?do=${encodeURIComponent(page.action)}" data-success="${escapeHtml(page.successMessage)}" novalidate>
  <input type="hidden" name="token" value="${escapeHtml(page.token)}">${passwordFields}
  <button type="submit">${escapeHtml(page.submitLabel)}</button>
</form>
<noscript><p class="message error">This page needs JavaScript.</p></noscript>
<script src="${ASSETS_PATH}form.js" defer></script>`;
}

/** Returns the body of a page that explains why a link cannot be used. */
export function problemPageBody(reason: string): string {
  return `
<h1>This link cannot be used</h1>
<p class="message error" role="alert">${escapeHtml(capitalize(reason))}.</p>`;
}

/** Sends an HTML page whose title starts with `productName`, the PRODUCT_NAME setting. */
export function sendPage(reply: FastifyReply, status: number, productName: string, title: string, body: string): FastifyReply {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(productName)}: ${escapeHtml(title)}</title>
<link rel="stylesheet" href="${ASSETS_PATH}page.css">
</head>
<body>
<main>${body}
</main>
</body>
</html>
`;
  return reply.code(status).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(html);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
