/**
 * The version of this frontend: the `version` of package.json, which is also
 * the Python package's version (a test keeps the two in step).
 */
export const PACKAGE_VERSION = '0.1.0';
