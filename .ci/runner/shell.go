package runner

import (
	"fmt"
	"strings"
)

// shellArgs are the runner's arguments for a named shell, and "" is the default: bash (when on
// PATH, as it is on ubuntu-24.04) with sh's arguments, so no pipefail. Source: actions/runner
// src/Runner.Worker/Handlers/ScriptHandlerHelpers.cs (_defaultArguments) and ScriptHandler.cs
// (no shell: WhichUtil.Which("bash") ?? "sh", GetScriptArgumentsFormat("sh")).
var shellArgs = map[string]string{
	"":     "-e {0}",
	"bash": "--noprofile --norc -e -o pipefail {0}",
	"sh":   "-e {0}",
}

// ShellArgv is the command line a run step's script runs with: shell is the step's `shell:`,
// else the job's or workflow's `defaults.run.shell` (none inside a composite action).
func ShellArgv(shell, script string) ([]string, error) {
	cmd, args, _ := strings.Cut(strings.TrimSpace(shell), " ")
	args = strings.TrimSpace(args)
	if args == "" {
		known, ok := shellArgs[cmd]
		if !ok {
			return nil, fmt.Errorf("shell %q: this runner knows bash and sh, or a command with {0}", shell)
		}
		args = known
	}
	if !strings.Contains(args, "{0}") {
		return nil, fmt.Errorf("shell %q: a shell with arguments must contain {0}", shell)
	}
	if strings.ContainsAny(args, `"'`) {
		return nil, fmt.Errorf("shell %q: quoted arguments are not supported here", shell)
	}
	if cmd == "" {
		cmd = "bash"
	}
	argv := []string{cmd}
	for _, a := range strings.Fields(args) {
		argv = append(argv, strings.ReplaceAll(a, "{0}", script))
	}
	return argv, nil
}

// ParseCommandFile reads a GITHUB_OUTPUT or GITHUB_ENV file: `name=value` lines and
// `name<<DELIMITER` blocks (docs.github.com, "Workflow commands": multiline strings).
func ParseCommandFile(content string) (map[string]string, []string, error) {
	out := map[string]string{}
	var order []string
	lines := strings.Split(strings.ReplaceAll(content, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		eq := strings.Index(line, "=")
		heredoc := strings.Index(line, "<<")
		switch {
		case eq > 0 && (heredoc < 0 || eq < heredoc):
			name := line[:eq]
			out[name] = line[eq+1:]
			order = append(order, name)
		case heredoc > 0:
			name, delim := line[:heredoc], line[heredoc+2:]
			if delim == "" {
				return nil, nil, fmt.Errorf("line %q: empty delimiter", line)
			}
			var body []string
			j := i + 1
			for ; j < len(lines) && lines[j] != delim; j++ {
				body = append(body, lines[j])
			}
			if j == len(lines) {
				return nil, nil, fmt.Errorf("%s<<%s: no closing delimiter", name, delim)
			}
			out[name] = strings.Join(body, "\n")
			order = append(order, name)
			i = j
		default:
			return nil, nil, fmt.Errorf("line %q: want name=value or name<<DELIMITER", line)
		}
	}
	return out, order, nil
}
