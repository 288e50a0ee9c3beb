// Command cost prints what the synthesized stacks in a cloud assembly cost at us-east-1 list
// prices: the per-use rates, each fixed monthly item, and `fixed monthly: $X.XX` last
// (`make cost` runs it on cdk.out).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/cost"
)

func main() {
	dir := flag.String("dir", "cdk.out", "the cloud assembly whose *.template.json to price")
	flag.Parse()
	stacks, err := cost.ReadDir(*dir)
	if err == nil {
		var r cost.Report
		if r, err = cost.FromTemplates(stacks); err == nil {
			fmt.Print(r)
			return
		}
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
