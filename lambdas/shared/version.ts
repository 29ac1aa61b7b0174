/** The version of this tool, recorded in every manifest and case file. Keep in step with package.json. */
export const TOOL_VERSION = '0.1.0';
