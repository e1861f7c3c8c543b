/**
 * @module
 * The leaf of the code: error types, YAML parsing with positions, and the types and validation
 * of `data/crosstalk.yaml` built from `crosstalk.schema.json`. Everything may import this; it
 * imports nothing of ours.
 */
export * from "./errors.ts";
export * from "./yaml.ts";
export * from "./config.ts";
