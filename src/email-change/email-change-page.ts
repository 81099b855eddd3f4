import type { FastifyInstance } from 'fastify';

import { registerResource } from '../http/resource.js';
import { formPageBody, linkPageDocs, problemPageBody, sendPage } from '../pages/page.js';
import type { EmailChangeService } from './email-change-service.js';
import { EMAIL_CHANGE_PAGE_PATH } from './email-change-tokens.js';

const TITLE = 'confirm your new email address';

/**
 * Registers the page that an email-change link opens, with a button that posts `confirm_email`. Opening
 * it only reads the token, because mail scanners open links before people do.
 */
export function registerEmailChangePage(app: FastifyInstance, emailChange: EmailChangeService, productName: string): void {
  registerResource(app, EMAIL_CHANGE_PAGE_PATH, {
    GET: async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const token = typeof query.token === 'string' ? query.token : '';
      const check = await emailChange.check(token, Date.now());

      if (!check.ok) return sendPage(reply, 400, productName, TITLE, problemPageBody(check.reason));
      const body = formPageBody({
        heading: 'Confirm your new email address',
        introduction: `Use ${check.newEmail} as the email address of your ${productName} account? From then on you log in with it.`,
        action: 'confirm_email',
        token,
        newPassword: false,
        submitLabel: 'Confirm new address',
        successMessage: 'Your email address is changed. Log in with the new address from now on. You can close this page.',
      });
      return sendPage(reply, 200, productName, TITLE, body);
    },
  }, { GET: linkPageDocs('The page of an email-change link, with a button that confirms the new address') });
}
