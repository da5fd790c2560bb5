/** The package version, shown by `switchyard -V` and sent in identities. */
export const VERSION = '0.1.0';
