package buildkitcache

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Commands are the words that make the binary a command instead of an
// Ansible module (whose only argument is an args file path).
var Commands = map[string]string{"info": "info", "prune": "pruned", "reset": "reset", "diagnose": "diagnose"}

// Command runs the module's states from the command line, for cron or a
// systemd timer (the scheduled cleanup), with the same code as the module:
//
//	buildkit_cache prune --keep-storage 10GB --older-than 72h [--builder jenkins-builder] [--filter type=regular]
//	buildkit_cache info|diagnose|reset [--builder NAME] [--json]
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	state := Commands[args[0]]
	fs := flag.NewFlagSet("buildkit_cache "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.String("keep-storage", "", "prune until the cache is at most this size (e.g. 10GB)")
	older := fs.String("older-than", "", "prune records unused for longer than this (e.g. 72h)")
	all := fs.Bool("all", false, "also prune records shared with images")
	host := fs.String("docker-host", "", "engine address (default $DOCKER_HOST or the local socket)")
	dry := fs.Bool("dry-run", false, "say what would be pruned, delete nothing")
	limit := fs.String("cache-limit", "10GB", "diagnose: warn when the cache is bigger")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	builderName := fs.String("builder", "", "a docker-container builder (buildx's name) instead of the engine's own BuildKit")
	filterArgs := map[string]any{}
	fs.Func("filter", "prune only records matching key=value (type, description, shared, private, inuse, id, parent); repeatable", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q is not key=value", v)
		}
		filterArgs[k] = val
		return nil
	})
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "buildkit_cache %s: unexpected argument %q\n", args[0], fs.Arg(0))
		return 2
	}
	raw := map[string]any{"state": state, "cache_limit": *limit}
	if *keep != "" {
		raw["keep_storage"] = *keep
	}
	if *older != "" {
		raw["older_than"] = *older
	}
	if *all {
		raw["all"] = true
	}
	if *host != "" {
		raw["docker_host"] = *host
	}
	if *builderName != "" {
		raw["builder"] = map[string]any{"driver": "docker-container", "name": *builderName}
	}
	if len(filterArgs) > 0 {
		raw["filters"] = filterArgs
	}
	m, err := module.ParseArgs(raw, Spec(), os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "buildkit_cache: %v\n", err)
		return 2
	}
	m.CheckMode = *dry
	res, err := Run(ctx, m)
	if err != nil {
		fmt.Fprintf(stderr, "buildkit_cache %s: %v\n", args[0], err)
		return 1
	}
	if *asJSON {
		out := map[string]any{"changed": res.Changed}
		for k, v := range res.Data {
			out[k] = v
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		printHuman(stdout, state, res, *dry)
	}
	if state == "diagnose" && res.Data["status"] == "fail" {
		return 3
	}
	return 0
}

func printHuman(w io.Writer, state string, res module.Result, dry bool) {
	switch state {
	case "diagnose":
		fmt.Fprintln(w, res.Msg)
		for _, l := range res.Data["summary"].([]string) {
			fmt.Fprintln(w, "  "+l)
		}
	case "info":
		c := res.Data["cache"].(map[string]any)
		fmt.Fprintf(w, "build cache: %v in %v records (%v bytes reclaimable)\n", c["total"], c["records"], c["reclaimable_bytes"])
		builders, _ := res.Data["builders"].([]map[string]any)
		for _, b := range builders {
			if bc, ok := b["cache"].(map[string]any); ok {
				fmt.Fprintf(w, "builder %v: %v in %v records (%v bytes reclaimable)\n", b["builder"], bc["total"], bc["records"], bc["reclaimable_bytes"])
			} else if b["builder"] != nil {
				fmt.Fprintf(w, "builder %v: %v%s\n", b["builder"], b["state"], errSuffix(b["error"]))
			}
		}
	default:
		verb := "reclaimed"
		if dry {
			verb = "would reclaim"
		}
		fmt.Fprintf(w, "%s %v (%s)\n", verb, res.Data["reclaimed"], strings.TrimSpace(fmt.Sprint(res.Data["reclaimed_bytes"]))+" bytes")
	}
}

func errSuffix(e any) string {
	if e == nil {
		return ""
	}
	return fmt.Sprintf(" (%v)", e)
}
