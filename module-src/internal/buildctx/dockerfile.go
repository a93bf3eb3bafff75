package buildctx

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Dockerfile is what the module needs to know about a Dockerfile before a build:
// the base images it starts from and the lines that only BuildKit can build.
type Dockerfile struct {
	// BaseImages are the external images named by FROM (stage names and
	// scratch excluded), after build-arg expansion, in order of appearance.
	BaseImages []string
	// BuildKitOnly lists the constructs the classic builder cannot build,
	// each as "line N: what".
	BuildKitOnly []string
	// Runs says whether any stage has a RUN step (which needs the target
	// platform's CPU, or an emulator, on the builder).
	Runs bool
}

// ParseDockerfile reads a Dockerfile's instructions. args are the build args
// the user passes; they override the global ARG defaults when FROM lines are
// expanded, as the builders do.
func ParseDockerfile(content []byte, args map[string]string) (*Dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return nil, fmt.Errorf("parse Dockerfile: %w", err)
	}
	df := &Dockerfile{}
	if syntax, _, rng, ok := parser.DetectSyntax(content); ok {
		line := 1
		if len(rng) > 0 {
			line = rng[0].Start.Line
		}
		df.BuildKitOnly = append(df.BuildKitOnly, fmt.Sprintf("line %d: '# syntax=%s' directive (a frontend image)", line, syntax))
	}

	lex := shell.NewLex(res.EscapeToken)
	meta := map[string]string{} // ARGs before the first FROM, overridden by user args
	stages := map[string]bool{}
	seenFrom := false
	seen := map[string]bool{}
	for _, n := range res.AST.Children {
		cmd := strings.ToLower(n.Value)
		if !instructions[cmd] {
			word := n.Value
			if len(word) > 40 {
				word = word[:40] + "..."
			}
			return nil, fmt.Errorf("line %d: unknown instruction %q: is this a Dockerfile?", n.StartLine, word)
		}
		if cmd == "run" {
			df.Runs = true
		}
		switch cmd {
		case "arg":
			if seenFrom {
				break
			}
			for a := n.Next; a != nil; a = a.Next {
				k, v, hasDefault := strings.Cut(a.Value, "=")
				if uv, ok := args[k]; ok {
					meta[k] = uv
				} else if hasDefault {
					meta[k] = v
				}
			}
		case "from":
			seenFrom = true
			if n.Next == nil {
				return nil, fmt.Errorf("Dockerfile line %d: FROM requires an image", n.StartLine)
			}
			image, _, err := lex.ProcessWord(n.Next.Value, envMap(meta))
			if err != nil {
				return nil, fmt.Errorf("Dockerfile line %d: %w", n.StartLine, err)
			}
			if image != "" && !strings.EqualFold(image, "scratch") && !stages[strings.ToLower(image)] && !seen[image] {
				seen[image] = true
				df.BaseImages = append(df.BaseImages, image)
			}
			if as := n.Next.Next; as != nil && strings.EqualFold(as.Value, "as") && as.Next != nil {
				stages[strings.ToLower(as.Next.Value)] = true
			}
		}
		for _, f := range n.Flags {
			name, _, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			if buildKitFlags[cmd][name] {
				df.BuildKitOnly = append(df.BuildKitOnly, fmt.Sprintf("line %d: %s %s", n.StartLine, strings.ToUpper(cmd), f))
			}
		}
		if len(n.Heredocs) > 0 {
			df.BuildKitOnly = append(df.BuildKitOnly, fmt.Sprintf("line %d: heredoc in %s", n.StartLine, strings.ToUpper(cmd)))
		}
	}
	return df, nil
}

// instructions are the Dockerfile's instruction keywords.
var instructions = map[string]bool{
	"from": true, "run": true, "cmd": true, "label": true, "maintainer": true, "expose": true, "env": true,
	"add": true, "copy": true, "entrypoint": true, "volume": true, "user": true, "workdir": true, "arg": true,
	"onbuild": true, "stopsignal": true, "healthcheck": true, "shell": true,
}

// buildKitFlags are instruction flags the classic builder rejects.
var buildKitFlags = map[string]map[string]bool{
	"run":  {"mount": true, "network": true, "security": true, "device": true},
	"copy": {"link": true, "chmod": true, "parents": true, "exclude": true},
	"add":  {"link": true, "chmod": true, "checksum": true, "keep-git-dir": true, "exclude": true},
}

type envMap map[string]string

func (e envMap) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }

func (e envMap) Keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
