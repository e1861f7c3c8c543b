/** The version of this build of crosstalk. */
export const VERSION = "0.1.0";
