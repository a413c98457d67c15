/**
 * The name of a lab (`tandem lab`, network namespaces on one machine): what
 * the lab and the resource manager's `lab` fence device both check. It ends
 * up in interface names, so Linux's limit on those bounds it.
 */

/** Linux limits an interface name to 15 bytes (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;
export const PREFIX = "tdl";
/** The host veth is `tdl-<lab>`, so a lab name has at most 15 - 4 characters. */
export const LAB_NAME_MAX = IFNAME_MAX - PREFIX.length - 1;
export const LAB_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function labNameProblem(name: string): string | undefined {
  if (!LAB_NAME_PATTERN.test(name)) return `lab name "${name}" must be lower case letters, digits and '-', not starting or ending with '-'`;
  if (name.length > LAB_NAME_MAX) return `lab name "${name}" is ${name.length} characters; at most ${LAB_NAME_MAX}, so that the host veth ${PREFIX}-LAB fits Linux's ${IFNAME_MAX}-character interface names`;
  return undefined;
}
