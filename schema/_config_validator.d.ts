// Types of the generated validator (schema/_config_validator.js).
/** Validates a parsed `data/crosstalk.yaml`; on failure, `validate.errors` lists ajv errors. */
export declare const validate: ((value: unknown) => boolean) & { errors?: unknown[] | null };
export default validate;
