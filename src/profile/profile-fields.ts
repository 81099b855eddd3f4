/** Field types as CloudSigma's schema names them. */
export type FieldType = 'string' | 'boolean' | 'decimal' | 'dict' | 'datetime';

export interface ProfileField {
  type: FieldType;
  readonly: boolean;
  nullable: boolean;
  blank: boolean;
  /** Value shown before the field is ever written; undefined for fields that have no default. */
  default?: string | boolean | null;
  helpText: string;
  /** Longest accepted string, in characters. */
  maxLength?: number;
}

const STRING_HELP = 'Unicode string data. Ex: "Hello World"';
const BOOLEAN_HELP = 'Boolean data. Ex: True';
const DECIMAL_HELP = 'Fixed precision numeric data. Ex: 26.73';

function text(maxLength: number, extra: Partial<ProfileField> = {}): ProfileField {
  return { type: 'string', readonly: false, nullable: false, blank: false, default: '', helpText: STRING_HELP, maxLength, ...extra };
}

function flag(value: boolean): ProfileField {
  return { type: 'boolean', readonly: false, nullable: false, blank: false, default: value, helpText: BOOLEAN_HELP };
}

function decimal(): ProfileField {
  return { type: 'decimal', readonly: false, nullable: false, blank: false, default: '0', helpText: DECIMAL_HELP };
}

function readOnly(type: FieldType, extra: Partial<ProfileField> = {}): ProfileField {
  return { type, readonly: true, nullable: true, blank: true, helpText: type === 'decimal' ? DECIMAL_HELP : STRING_HELP, ...extra };
}

/** Every field of the CloudSigma profile, in the order of its schema. */
export const PROFILE_FIELDS: Record<string, ProfileField> = {
  address: text(1024),
  api_https_only: flag(false),
  autotopup_amount: decimal(),
  autotopup_threshold: decimal(),
  bank_reference: readOnly('string'),
  clone_naming: text(32, { default: 'NONE' }),
  company: text(255),
  country: text(2, { helpText: 'ISO 3166-1 alpha-2 country code, or empty. Ex: "BG"' }),
  currency: readOnly('string'),
  email: readOnly('string', { nullable: false, blank: false }),
  first_name: text(255),
  has_autotopup: flag(false),
  has_tx_autotopup: flag(false),
  invoicing: flag(true),
  key_auth: flag(false),
  language: text(8, { default: 'EN' }),
  last_name: text(255),
  mailing_list: flag(true),
  meta: {
    type: 'dict',
    readonly: false,
    nullable: false,
    blank: false,
    helpText: "A dictionary of data. Ex: {'price': 26.73, 'name': 'Daniel'}",
  },
  my_notes: text(10000, { nullable: true }),
  network_restrictions: readOnly('string', { blank: false }),
  nickname: text(255, { helpText: 'User nickname' }),
  otp_enabled: readOnly('boolean', {
    nullable: false,
    blank: false,
    helpText: 'Whether logging in needs a second factor: a TOTP code or a recovery code. Turned on with do=otp_setup and do=otp_enable.',
  }),
  phone: text(64),
  postcode: text(32, { nullable: true, default: undefined }),
  reseller: text(255),
  signup_time: readOnly('datetime', {
    nullable: false,
    blank: false,
    helpText: 'A date & time as a string. Ex: "2010-11-10T03:07:43"',
  }),
  state: readOnly('string', { nullable: false, blank: false }),
  tax_name: readOnly('string', { blank: false }),
  tax_rate: readOnly('decimal', { blank: false }),
  title: text(255, { helpText: 'User title' }),
  town: text(255),
  tx_autotopup_amount: decimal(),
  tx_autotopup_threshold: decimal(),
  uuid: readOnly('string', { nullable: false, blank: false }),
  vat: text(64),
};

/** Limits of the `meta` dictionary. */
export const META_LIMITS = { maxKeys: 100, maxKeyLength: 64, maxValueLength: 1024 };

/** Builds the body of `GET /api/2.0/profile/schema/`, in the layout CloudSigma's schema endpoints use. */
export function profileSchemaDocument(): object {
  const fields = Object.fromEntries(
    Object.entries(PROFILE_FIELDS).map(([name, field]) => [
      name,
      {
        blank: field.blank,
        default: schemaDefault(field),
        help_text: field.helpText,
        nullable: field.nullable,
        readonly: field.readonly,
        type: field.type,
        unique: name === 'uuid' || name === 'email',
      },
    ]),
  );

  return {
    allowed_detail_http_methods: ['get', 'put'],
    allowed_list_http_methods: ['get', 'put'],
    default_format: 'application/json',
    default_limit: 20,
    fields,
  };
}

// CloudSigma's schema writes a missing default as this sentence and a decimal default as a number.
function schemaDefault(field: ProfileField): string | boolean | number | null {
  if (field.default === undefined) return 'No default provided.';
  if (field.type === 'decimal') return 0;
  return field.default;
}
