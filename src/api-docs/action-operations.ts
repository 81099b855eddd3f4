import { OTP_HEADER } from '../http/authentication.js';
import { errorResponseRef } from './error-responses.js';
import { errorStatusesOf, operationIdOf, requestBodyOf, responseOf, sortedByStatus } from './operation-objects.js';
import type { Access, ActionRouteDocs, ErrorStatus, ParameterDocs } from './operation-docs.js';
import { type SecuritySettings, securityOf } from './security-schemes.js';

/** The `OTP` request header, which carries a TOTP code or a recovery code. */
export const OTP_HEADER_PARAMETER: ParameterDocs = {
  name: OTP_HEADER.toUpperCase(),
  in: 'header',
  required: false,
  description:
    'A second-factor code: the current TOTP code of the authenticator app, or a recovery code. verify_otp, otp_enable and otp_disable read it, ' +
    'and so does every request with Basic or Digest credentials of an account with two-factor authentication on.',
  schema: { type: 'string' },
};

/** The Operation Objects of the actions of one route, and the schemas they refer to. */
export interface ActionOperations {
  /** `RESOURCE.NAME.request` and `RESOURCE.NAME.response` of every action, for `components.schemas`. */
  schemas: Record<string, object>;
  /** One Operation Object per action name, in name order. */
  byName: Record<string, Record<string, unknown> & { security: object[]; responses: Record<string, object> }>;
  resource: string;
}

/** Returns one Operation Object per action of an actions route, as if each action were an operation of its own. */
export function actionOperations(url: string, actions: ActionRouteDocs['actions'], method: string, settings: SecuritySettings): ActionOperations {
  // `/api/2.0/accounts/action/` belongs to `accounts`, `/api/2.0/accounts/sessions/action/` to `sessions`.
  const resource = url.split('/').filter(Boolean).at(-2) ?? 'actions';
  const schemas: Record<string, object> = {};
  const byName: ActionOperations['byName'] = {};

  for (const name of Object.keys(actions).sort()) {
    const { body, docs } = actions[name] as ActionRouteDocs['actions'][string];
    const requestName = `${resource}.${name}.request`;
    const responseName = `${resource}.${name}.response`;
    schemas[requestName] = body;
    if (docs.response.schema !== undefined) schemas[responseName] = docs.response.schema;

    const responses: Record<string, object> = { 200: responseOf({ ...docs.response, ...refTo(docs.response.schema, responseName) }) };
    for (const status of errorStatusesOf(url, { access: docs.access, errors: docs.errors ?? [], requestBody: body })) {
      responses[String(status)] = errorResponseRef(status);
    }

    byName[name] = {
      summary: docs.summary,
      ...(docs.description === undefined ? {} : { description: docs.description }),
      parameters: [
        { name: 'do', in: 'query', required: true, schema: { type: 'string', const: name } },
        { $ref: '#/components/parameters/format' },
        ...(docs.otpHeader === true ? [{ $ref: '#/components/parameters/otp' }] : []),
      ],
      requestBody: requestBodyOf(schemaRef(requestName), body),
      responses: sortedByStatus(responses),
      security: securityOf(docs.access, method, settings),
    };
  }

  return { schemas, byName, resource };
}

/**
 * Returns the one Operation Object of an actions route: `do` lists the actions, the body is any one of
 * theirs, and `x-actions` contains the Operation Object of each.
 */
export function actionsOperation(
  url: string,
  docs: ActionRouteDocs,
  operations: ActionOperations,
  method: string,
  settings: SecuritySettings,
): Record<string, unknown> {
  const names = Object.keys(operations.byName);
  const entries = names.map((name) => [name, docs.actions[name]?.docs] as const);
  const otpHeader = entries.some(([, action]) => action?.otpHeader === true);
  const responseNames = names.map((name) => `${operations.resource}.${name}.response`).filter((name) => name in operations.schemas);

  const responses: Record<string, object> = {
    200: {
      description: 'The result of the action that `do` names; `x-actions` has the response of each action.',
      content: { 'application/json': { schema: { anyOf: responseNames.map(schemaRef) } } },
    },
  };
  const statuses = new Set<ErrorStatus>(entries.flatMap(([, action]) => (action ? errorStatusesOf(url, { ...action, requestBody: {} }) : [])));
  for (const status of [...statuses].sort((a, b) => a - b)) responses[String(status)] = errorResponseRef(status);

  const security = new Map<string, object>();
  for (const operation of Object.values(operations.byName)) {
    for (const requirement of operation.security) security.set(JSON.stringify(requirement), requirement);
  }

  const table = [
    '| do | what it does | credentials |',
    '| --- | --- | --- |',
    ...entries.map(([name, action]) => `| \`${name}\` | ${action?.summary ?? ''} | ${action ? credentialsText(action.access, settings) : ''} |`),
  ];

  return {
    tags: [docs.tag],
    summary: docs.summary,
    description: `${docs.description}\n\n${table.join('\n')}`,
    operationId: operationIdOf(method, url),
    parameters: [
      {
        name: 'do',
        in: 'query',
        required: true,
        description: 'The action. An unknown or missing action is a 400 on `do`.',
        schema: { type: 'string', enum: names },
      },
      { $ref: '#/components/parameters/format' },
      ...(otpHeader ? [{ $ref: '#/components/parameters/otp' }] : []),
    ],
    requestBody: {
      required: false,
      description: `The body of the action that \`do\` names: \`components.schemas\` \`${operations.resource}.NAME.request\`. No body counts as \`{}\`.`,
      content: { 'application/json': { schema: { anyOf: names.map((name) => schemaRef(`${operations.resource}.${name}.request`)) } } },
    },
    responses,
    security: [...security.values()],
    'x-actions': operations.byName,
  };
}

function schemaRef(name: string): { $ref: string } {
  return { $ref: `#/components/schemas/${name}` };
}

function refTo(schema: object | undefined, name: string): { schema?: object } {
  return schema === undefined ? {} : { schema: schemaRef(name) };
}

const CREDENTIAL_NAMES = {
  basic: 'Basic',
  digest: 'Digest',
  bearer: 'API token',
  session: 'session',
  asyncAuth: 'async_auth cookie',
  metricsToken: 'metrics token',
} as const;

/** Describes an access in a few words for the table of actions, such as "Basic, API token or session". */
function credentialsText(access: Access, settings: SecuritySettings): string {
  if (access.credentials.length === 0) return 'none';

  const names = access.credentials
    .filter((credential) => credential !== 'digest' || settings.digestAuth)
    .map((credential) => (credential === 'session' && access.csrf ? 'session with X-CSRFToken' : CREDENTIAL_NAMES[credential]));
  const last = names.pop();
  const listed = names.length === 0 ? `${last}` : `${names.join(', ')} or ${last}`;
  return access.optional === true ? `none, or ${listed}` : listed;
}
