// Command cdkci is what the GitHub Actions workflows ask of the app, so that they derive it
// from cdk.json at run time instead of repeating it:
//
//	cdkci environments [-cdk-json cdk.json]   the environments a pull request diffs, in order, as JSON
//	cdkci environments -deploy [-cdk-json …]  the environments the deploy workflow deploys (refused with pipeline)
//	cdkci result -name ENV -sha SHA -run URL -outcome OUTCOME -diff FILE -out FILE
//	                                          a diff leg's result (status, error) next to its diff
//	cdkci summary -dir DIR -matrix JSON -sha SHA -run URL
//	                                          the pull-request comment (Markdown) from the legs' results
//	cdkci comment -body FILE                  create or update that comment through the GitHub REST API
//
// Each exits 1 with a one-line message on a bad input or a refusal.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cdkci:", err)
		os.Exit(1)
	}
}

const usage = "usage: cdkci environments|result|summary|comment [flags] (see cdkci COMMAND -h)"

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", usage)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch args[0] {
	case "environments":
		path := fs.String("cdk-json", "cdk.json", "the app's cdk.json")
		deploy := fs.Bool("deploy", false, "the deploy workflow's list (refused when pipeline is set)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return writeEnvironments(*path, *deploy, out)
	case "result":
		var in LegInput
		fs.StringVar(&in.Name, "name", "", "the environment's name")
		fs.StringVar(&in.SHA, "sha", "", "the commit diffed")
		fs.StringVar(&in.RunURL, "run", "", "the workflow run's URL")
		fs.StringVar(&in.Outcome, "outcome", "", "the diff step's outcome")
		fs.StringVar(&in.DiffPath, "diff", "", "the diff step's output")
		fs.StringVar(&in.Out, "out", "", "where to write the result (JSON)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return RecordResult(in)
	case "summary":
		dir := fs.String("dir", "diff", "the downloaded diff artifacts")
		matrix := fs.String("matrix", "", "the environments job's matrix (JSON); empty when that job failed")
		var r Run
		fs.StringVar(&r.SHA, "sha", "", "the pull request's head commit")
		fs.StringVar(&r.URL, "run", "", "the workflow run's URL")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if r.SHA == "" || r.URL == "" {
			return fmt.Errorf("summary: -sha and -run are required (the pull request's head commit, the run's URL)")
		}
		names, err := MatrixNames(*matrix)
		if err != nil {
			return err
		}
		legs, err := LoadLegs(*dir, names)
		if err != nil {
			return err
		}
		_, err = io.WriteString(out, Summary(r, legs, len(names) > 0))
		return err
	case "comment":
		body := fs.String("body", "", "the comment (cdkci summary's output)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *body == "" {
			return fmt.Errorf("comment: -body FILE is required")
		}
		return postComment(*body, os.Getenv, &http.Client{Timeout: 30 * time.Second}, out)
	}
	return fmt.Errorf("unknown command %q: %s", args[0], usage)
}

// parse parses a command's flags, refusing arguments left over.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
