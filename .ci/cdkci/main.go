// Command cdkci is what the GitHub Actions workflows ask of the app, so that they derive it
// from cdk.json at run time instead of repeating it:
//
//	cdkci environments [-cdk-json cdk.json]   the environments a pull request diffs, in order, as JSON
//	cdkci environments -deploy [-cdk-json …]  the environments the deploy workflow deploys
//	cdkci summary FILE...                     a pull-request comment (Markdown) from `cdk diff` output
//
// Each exits 1 with a one-line message on a bad input or a refusal.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cdkci:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: cdkci environments [-deploy] [-cdk-json FILE] | cdkci summary FILE...")
	}
	switch args[0] {
	case "environments":
		fs := flag.NewFlagSet("environments", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		path := fs.String("cdk-json", "cdk.json", "")
		deploy := fs.Bool("deploy", false, "")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
			return fmt.Errorf("usage: cdkci environments [-deploy] [-cdk-json FILE]")
		}
		return writeEnvironments(*path, *deploy, out)
	case "summary":
		if len(args) < 2 {
			return fmt.Errorf("usage: cdkci summary FILE... (the output of cdk diff)")
		}
		var diffs []string
		for _, f := range args[1:] {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			diffs = append(diffs, string(b))
		}
		_, err := io.WriteString(out, Summary(diffs))
		return err
	}
	return fmt.Errorf("unknown command %q: want environments or summary", args[0])
}
