import type { FastifyInstance } from 'fastify';

import { registerResource } from '../http/resource.js';
import { formPageBody, linkPageDocs, problemPageBody, sendPage } from '../pages/page.js';
import type { ConfirmationService } from './confirmation-service.js';
import { CONFIRM_PAGE_PATH } from './confirmation-tokens.js';

/**
 * Registers the page that a confirmation link opens, with a form to set the first password. Opening it
 * only reads the token, because mail scanners open links before people do.
 */
export function registerConfirmPage(app: FastifyInstance, confirmation: ConfirmationService, productName: string): void {
  registerResource(app, CONFIRM_PAGE_PATH, {
    GET: async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const token = typeof query.token === 'string' ? query.token : '';
      const check = await confirmation.check(token, Date.now());

      if (!check.ok) return sendPage(reply, 400, productName, 'set your password', problemPageBody(check.reason));
      const body = formPageBody({
        heading: 'Set your password',
        introduction: `Choose the password for your ${productName} account. You will be logged in when it is set.`,
        action: 'confirm',
        token,
        newPassword: true,
        submitLabel: 'Set password',
        successMessage: 'Your password is set and you are logged in. You can close this page.',
      });
      return sendPage(reply, 200, productName, 'set your password', body);
    },
  }, { GET: linkPageDocs('The page of a sign-up link, with a form that sets the first password') });
}
