package buildkitimage

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/docker/go-units"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
)

// request turns the build options into a builder request.
func (r *runner) request(bctx *buildctx.Context, args map[string]string) (builder.Request, error) {
	b := r.o.Build
	req := builder.Request{
		ContextDir:     bctx.Dir,
		DockerfilePath: bctx.DockerfilePath,
		Excludes:       bctx.Excludes,
		Tags:           []string{r.ref},
		Args:           args,
		Labels:         b.Labels.Strings(),
		Target:         b.Target,
		Platforms:      b.Platform,
		NoCache:        b.NoCache,
		Pull:           b.Pull,
		Network:        b.Network,
		ExtraHosts:     b.EtcHosts.Strings(),
		Remove:         b.Rm,
	}
	if req.Labels == nil {
		req.Labels = map[string]string{}
	}
	if b.Provenance != "" || b.SBOM {
		req.Attest = map[string]string{}
		if b.Provenance != "" {
			req.Attest["provenance"] = "mode=" + b.Provenance
		}
		if b.SBOM {
			req.Attest["sbom"] = "true"
			if b.SBOMGenerator != "" {
				req.Attest["sbom"] = "generator=" + b.SBOMGenerator
			}
		}
	}
	if b.ShmSize != "" {
		n, err := units.RAMInBytes(b.ShmSize)
		if err != nil {
			return req, fmt.Errorf("Failed to convert build.shm_size to bytes: %q is not a size: %v", b.ShmSize, err)
		}
		req.ShmSize = n
	}
	if l := b.ContainerLimits; l != nil {
		var err error
		if req.Limits.Memory, err = sizeOption("build.container_limits.memory", l.Memory, false); err != nil {
			return req, err
		}
		if req.Limits.MemorySwap, err = sizeOption("build.container_limits.memswap", l.Memswap, true); err != nil {
			return req, err
		}
		if l.CPUShares != nil {
			req.Limits.CPUShares = *l.CPUShares
		}
		req.Limits.CPUSetCPUs = l.CPUSetCPUs
	}
	var err error
	if req.Secrets, err = r.secrets(); err != nil {
		return req, err
	}
	for i, s := range b.SSH {
		paths := s.Paths
		if len(paths) == 0 {
			sock := os.Getenv("SSH_AUTH_SOCK")
			if sock == "" {
				return req, fmt.Errorf("build.ssh[%d]: no paths given and SSH_AUTH_SOCK is not set for the module", i)
			}
			paths = []string{sock}
		}
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				return req, fmt.Errorf("build.ssh[%d].paths: %v", i, err)
			}
		}
		req.SSH = append(req.SSH, builder.SSH{ID: s.ID, Paths: paths})
	}
	if req.CacheFrom, err = cacheImports(b.CacheFrom); err != nil {
		return req, err
	}
	for i, c := range b.CacheTo {
		e, err := cacheExport(i, c)
		if err != nil {
			return req, err
		}
		req.CacheTo = append(req.CacheTo, e)
	}
	return req, nil
}

// secrets reads build.secrets into memory: the values go to BuildKit over the
// session only, and are masked in everything the module prints.
func (r *runner) secrets() ([]builder.Secret, error) {
	var out []builder.Secret
	seen := map[string]bool{}
	for i, s := range r.o.Build.Secrets {
		if seen[s.ID] {
			return nil, fmt.Errorf("build.secrets[%d].id: %q is given twice", i, s.ID)
		}
		seen[s.ID] = true
		var v []byte
		switch s.Type {
		case "file":
			b, err := os.ReadFile(s.Src)
			if err != nil {
				return nil, fmt.Errorf("build.secrets[%d].src: %v", i, err)
			}
			v = b
		case "env":
			val, ok := os.LookupEnv(s.Env)
			if !ok {
				return nil, fmt.Errorf("build.secrets[%d].env: environment variable %s is not set for the module", i, s.Env)
			}
			v = []byte(val)
		case "value":
			v = []byte(s.Value)
		}
		if len(v) > 0 {
			r.m.AddNoLogValue(string(v))
			if t := strings.TrimSpace(string(v)); t != "" && t != string(v) {
				r.m.AddNoLogValue(t)
			}
		}
		out = append(out, builder.Secret{ID: s.ID, Value: v})
	}
	return out, nil
}

// cacheImports reads build.cache_from: docker_image's plain image names, or
// typed entries.
func cacheImports(entries []any) ([]builder.Cache, error) {
	var out []builder.Cache
	for i, e := range entries {
		switch v := e.(type) {
		case string:
			out = append(out, builder.Cache{Type: "registry", Attrs: map[string]string{"ref": v}})
		case map[string]any:
			b, _ := json.Marshal(v)
			var c CacheEntry
			if err := json.Unmarshal(b, &c); err != nil {
				return nil, fmt.Errorf("build.cache_from[%d]: %v", i, err)
			}
			for k := range v {
				switch k {
				case "type", "ref", "src", "mode", "dest", "attrs":
				default:
					return nil, fmt.Errorf("build.cache_from[%d]: unknown key %q (type, ref, src, attrs)", i, k)
				}
			}
			switch c.Type {
			case "registry", "inline":
				if c.Ref == "" {
					return nil, fmt.Errorf("build.cache_from[%d]: type=%s needs ref", i, c.Type)
				}
				out = append(out, builder.Cache{Type: "registry", Attrs: map[string]string{"ref": c.Ref}})
			case "local":
				if c.Src == "" {
					return nil, fmt.Errorf("build.cache_from[%d]: type=local needs src", i)
				}
				out = append(out, builder.Cache{Type: "local", Attrs: map[string]string{"src": c.Src}})
			case "gha", "s3", "azblob":
				attrs, err := passThroughAttrs(fmt.Sprintf("build.cache_from[%d]", i), c)
				if err != nil {
					return nil, err
				}
				out = append(out, builder.Cache{Type: c.Type, Attrs: attrs})
			default:
				return nil, fmt.Errorf("build.cache_from[%d].type: must be one of registry, local, inline, gha, s3, azblob, got %q", i, c.Type)
			}
		default:
			return nil, fmt.Errorf("build.cache_from[%d]: expected an image name or a dict with type, got %T", i, e)
		}
	}
	return out, nil
}

func cacheExport(i int, c CacheEntry) (builder.Cache, error) {
	attrs := map[string]string{}
	if c.Mode != "" {
		attrs["mode"] = c.Mode
	}
	switch c.Type {
	case "inline":
	case "registry", "local":
		if c.Type == "registry" && c.Ref == "" {
			return builder.Cache{}, fmt.Errorf("build.cache_to[%d]: type=registry needs ref", i)
		}
		if c.Type == "local" && c.Dest == "" {
			return builder.Cache{}, fmt.Errorf("build.cache_to[%d]: type=local needs dest", i)
		}
		// Further exporter settings (compression, compression-level,
		// oci-mediatypes, image-manifest, ignore-error) go in attrs.
		extra, err := stringAttrs(fmt.Sprintf("build.cache_to[%d]", i), c.Attrs)
		if err != nil {
			return builder.Cache{}, err
		}
		for k, v := range extra {
			if k == "ref" || k == "dest" || k == "mode" {
				return builder.Cache{}, fmt.Errorf("build.cache_to[%d].attrs.%s: give %s as the entry's own option, not in attrs", i, k, k)
			}
			attrs[k] = v
		}
		if c.Type == "registry" {
			attrs["ref"] = c.Ref
		} else {
			attrs["dest"] = c.Dest
		}
	case "gha", "s3", "azblob":
		pass, err := passThroughAttrs(fmt.Sprintf("build.cache_to[%d]", i), c)
		if err != nil {
			return builder.Cache{}, err
		}
		maps.Copy(attrs, pass)
	}
	return builder.Cache{Type: c.Type, Attrs: attrs}, nil
}

// passThroughAttrs are the attributes of a cache type this module does not
// model (gha, s3, azblob), handed to BuildKit as they are (strings).
func passThroughAttrs(opt string, c CacheEntry) (map[string]string, error) {
	if c.Ref != "" || c.Src != "" || c.Dest != "" {
		return nil, fmt.Errorf("%s: type=%s takes its settings in attrs (e.g. bucket, region, url), not ref/src/dest", opt, c.Type)
	}
	return stringAttrs(opt, c.Attrs)
}

// stringAttrs turns a cache entry's attrs into BuildKit's string attributes.
func stringAttrs(opt string, in map[string]any) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range in {
		switch x := v.(type) {
		case string:
			out[k] = x
		case bool, float64, int:
			out[k] = fmt.Sprint(x)
		default:
			return nil, fmt.Errorf("%s.attrs.%s: expected a string, got %T", opt, k, v)
		}
	}
	return out, nil
}

// sizeOption reads a size given as bytes (int, community.docker 3.x) or with units ("4g").
func sizeOption(name string, v any, allowUnlimited bool) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64:
		if x != float64(int64(x)) {
			return 0, fmt.Errorf("%s: %v is not a whole number of bytes", name, x)
		}
		return int64(x), nil
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case string:
		if allowUnlimited && (x == "unlimited" || x == "-1") {
			return -1, nil
		}
		n, err := units.RAMInBytes(x)
		if err != nil {
			return 0, fmt.Errorf("Failed to convert %s to bytes: %q is not a size: %v", name, x, err)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%s: expected a size such as 512m or a number of bytes, got %T", name, v)
	}
}
