// What the man page and the bash completion are made of: the commands' own
// help texts, read from the built executable (`tandem --help`, `tandem CMD
// --help`, `tandem CMD ACTION --help`), so both follow the program as it is.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

async function help(bin, args) {
  const { stdout } = await promisify(execFile)(bin, [...args, "--help"], { encoding: "utf8" });
  return stdout.trimEnd();
}

/** The indented lines after the line that ends with `title:`, up to the next line that is not indented. */
function section(text, title) {
  const lines = text.split("\n");
  const at = lines.findIndex((l) => l === `${title}:` || l.endsWith(` ${title}:`));
  if (at < 0) return [];
  const out = [];
  for (const l of lines.slice(at + 1)) {
    if (/^\S/.test(l)) break;
    out.push(l);
  }
  return out;
}

/** `  -c, --config FILE   the cluster config` -> { long: "--config", short: "-c", arg: "FILE" }. */
function options(text) {
  const out = [];
  for (const l of section(text, "Options")) {
    const m = /^ {2}(?:(-\w), )? *(--[\w-]+)(?: ([A-Z][A-Z0-9_:.]*))?/.exec(l);
    if (m) out.push({ long: m[2], short: m[1], arg: m[3] });
  }
  return out;
}

/**
 * The words a command takes first: the literal lowercase words of its usage
 * lines (`tandem director -c FILE drain SERVICE ...` -> drain) and the first
 * word of each entry of an Actions: or Kinds: list.
 */
function actions(name, text) {
  const words = new Set();
  for (const l of text.split("\n")) {
    const m = new RegExp(`^(?:Usage:| +)\\s*tandem ${name} (.*)$`).exec(l);
    if (!m) continue;
    const tokens = m[1].split(/\s+/);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (/^-/.test(t)) {
        if (/^[A-Z]/.test(tokens[i + 1] ?? "")) i++;
        continue;
      }
      const w = /^\[?([a-z][a-z-]*)\]?$/.exec(t);
      if (w) words.add(w[1]);
    }
  }
  for (const title of ["Actions", "Kinds"]) for (const l of section(text, title)) {
    const m = /^ {2}([a-z][a-z-]*)(\s|$)/.exec(l);
    if (m) words.add(m[1]);
  }
  return [...words];
}

/**
 * Every command of `bin` with its summary, help text, options and actions;
 * an action whose own help differs from its command's brings its options.
 */
export async function readCommands(bin) {
  const top = await help(bin, []);
  const listed = section(top, "Commands").map((l) => /^ {2}(\S+)\s+(.*)$/.exec(l)).filter((m) => m !== null);
  const commands = await Promise.all(
    listed.map(async ([, name, summary]) => {
      const text = await help(bin, [name]);
      const acts = await Promise.all(
        actions(name, text).map(async (a) => {
          const own = await help(bin, [name, a]);
          return { name: a, help: own === text ? undefined : own, options: own === text ? [] : options(own) };
        }),
      );
      return { name, summary, help: text, options: options(text), actions: acts };
    }),
  );
  return { top, options: options(top), commands };
}

/** roff text: backslashes and minus signs escaped, a line that begins with a control character guarded. */
function roff(text) {
  return text
    .replace(/\\/g, "\\e")
    .replace(/-/g, "\\-")
    .split("\n")
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join("\n");
}

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** tandem(1): the synopsis, each command's help verbatim, the files the package installs, the exit codes. */
export function manPage({ top, commands }, version, date) {
  const day = `${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}`;
  const tagline = top.split("\n")[0].replace(/^tandem [^:]*: /, "");
  const out = [
    `.TH TANDEM 1 "${day}" "tandem ${version}" "User Commands"`,
    ".SH NAME",
    `tandem \\- ${roff(tagline)}`,
    ".SH SYNOPSIS",
    ".B tandem",
    ".I COMMAND",
    "[\\fIOPTIONS\\fR]",
    ".br",
    ".B tandem",
    "\\-\\-version",
    ".SH DESCRIPTION",
    "Tandem is one executable that turns two Linux machines into a service that stays up:",
    "messaging and membership, a resource manager, a load balancer's director with health checks,",
    "an L7 proxy, and block replication, from one config file that is the same on every node.",
    "Each command's help (\\fBtandem \\fICOMMAND\\fB \\-\\-help\\fR) is reproduced below.",
    ".SH COMMANDS",
  ];
  for (const c of commands) {
    out.push(`.SS "tandem ${c.name}"`, roff(c.summary), ".PP", ".nf", roff(c.help), ".fi");
    for (const a of c.actions.filter((x) => x.help)) out.push(".PP", ".nf", roff(a.help), ".fi");
  }
  out.push(
    ".SH FILES",
    ".TP",
    ".I /etc/tandem/tandem.toml",
    "the cluster config the systemd unit runs with (an example until edited)",
    ".TP",
    ".I /usr/share/doc/tandem/configuration.md.gz",
    "every config key: type, default, limits, meaning and an example (one key: \\fBtandem config explain \\fIKEY\\fR)",
    ".TP",
    ".I /usr/share/doc/tandem/examples/alerts.yml",
    "Prometheus alert rules for the metrics a node serves at /metrics",
    ".TP",
    ".I /var/lib/tandem",
    "the node's state (standby, moves, drains) kept across restarts",
    ".TP",
    ".I /lib/systemd/system/tandem.service",
    "the unit: \\fBsystemctl reload tandem\\fR sends SIGHUP (a validated reload)",
    ".SH EXIT STATUS",
    "0 done; 1 failed while running; 2 bad usage or a bad config (each problem names its key path).",
    ".SH SEE ALSO",
    ".BR systemctl (1),",
    ".BR ipvsadm (8),",
    ".BR haproxy (1)",
  );
  return `${out.join("\n")}\n`;
}

function words(list) {
  return list.join(" ");
}

/** The compgen for an option's argument: files for FILE, directories for DIR, nothing to offer otherwise. */
function argCompletion(arg) {
  if (arg === "FILE") return 'COMPREPLY=($(compgen -f -- "$cur")); return';
  if (arg === "DIR") return 'COMPREPLY=($(compgen -d -- "$cur")); return';
  return "return";
}

/** The config keys `tandem config explain` takes: the headings of `tandem config reference`. */
export async function configKeys(bin) {
  const { stdout } = await promisify(execFile)(bin, ["config", "reference"], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  return [...stdout.matchAll(/^### `([^`]+)`$/gm)].map((m) => m[1]);
}

/**
 * A bash completion for `tandem`: commands, each one's actions and options,
 * file names after FILE options, and the words `operands` gives for a
 * "COMMAND ACTION" (the config keys for "config explain").
 */
export function bashCompletion({ options: topOptions, commands }, operands = {}) {
  const takesArg = new Map();
  for (const c of commands) for (const o of [...c.options, ...c.actions.flatMap((a) => a.options)]) {
    if (!o.arg) continue;
    takesArg.set(o.long, o.arg);
    if (o.short) takesArg.set(o.short, o.arg);
  }
  const byArg = new Map();
  for (const [opt, arg] of takesArg) byArg.set(arg, [...(byArg.get(arg) ?? []), opt]);
  const cases = commands.map((c) => {
    const acts = c.actions.filter((a) => a.help);
    const actionCases = acts.map((a) => `        ${a.name}) opts="${words([...new Set([...a.options, ...c.options].map((o) => o.long))])}" ;;`);
    const lines = [`    ${c.name})`, `      opts="${words(c.options.map((o) => o.long))}"`];
    if (actionCases.length) lines.push('      case "$action" in', ...actionCases, "      esac");
    lines.push(`      acts="${words(c.actions.map((a) => a.name))}"`, "      ;;");
    return lines.join("\n");
  });
  return `# bash completion for tandem(1), made from the commands' help texts.
_tandem() {
  local cur prev cmd action opts acts i
  COMPREPLY=()
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd=""
  action=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      ${[...takesArg.keys()].join("|")}) ((i++)) ;;
      -*) ;;
      *) if [[ -z "$cmd" ]]; then cmd="\${COMP_WORDS[i]}"; elif [[ -z "$action" ]]; then action="\${COMP_WORDS[i]}"; fi ;;
    esac
  done
  case "$prev" in
${[...byArg].map(([arg, opts]) => `    ${opts.join("|")}) ${argCompletion(arg)} ;;`).join("\n")}
  esac
  if [[ -z "$cmd" ]]; then
    COMPREPLY=($(compgen -W "${words([...commands.map((c) => c.name), ...topOptions.map((o) => o.long)])}" -- "$cur"))
    return
  fi
  opts=""
  acts=""
  case "$cmd" in
${cases.join("\n")}
  esac
  case "$cmd $action" in
${Object.entries(operands).map(([at, list]) => `    "${at}") [[ "$cur" != -* ]] && COMPREPLY=($(compgen -W "${words(list)}" -- "$cur")) && return ;;`).join("\n")}
  esac
  if [[ "$cur" == -* || -n "$action" || -z "$acts" ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$acts" -- "$cur"))
  fi
}
complete -F _tandem tandem
`;
}
