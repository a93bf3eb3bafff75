// Package buildkitimage is the buildkit_image module: community.docker's
// docker_image options and results, built with BuildKit.
package buildkitimage

import (
	"maps"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Options are the module's arguments after validation.
type Options struct {
	engine.Options
	Name         string        `json:"name"`
	Tag          string        `json:"tag"`
	State        string        `json:"state"`
	Source       string        `json:"source"`
	ForceSource  bool          `json:"force_source"`
	ForceAbsent  bool          `json:"force_absent"`
	Build        *BuildOptions `json:"build"`
	BuildMethod  string        `json:"build_method"`
	BuildTimeout int           `json:"build_timeout"`
	CacheDir     string        `json:"context_cache_dir"`
}

// BuildOptions are docker_image's build.* suboptions.
type BuildOptions struct {
	Path            string           `json:"path"`
	Dockerfile      string           `json:"dockerfile"`
	Args            map[string]any   `json:"args"`
	Target          string           `json:"target"`
	Labels          map[string]any   `json:"labels"`
	NoCache         bool             `json:"nocache"`
	Pull            bool             `json:"pull"`
	Network         string           `json:"network"`
	EtcHosts        map[string]any   `json:"etc_hosts"`
	Platform        string           `json:"platform"`
	CacheFrom       []string         `json:"cache_from"`
	Rm              bool             `json:"rm"`
	ShmSize         string           `json:"shm_size"`
	HTTPTimeout     *int             `json:"http_timeout"`
	UseConfigProxy  *bool            `json:"use_config_proxy"`
	ContainerLimits *ContainerLimits `json:"container_limits"`
}

// ContainerLimits are build.container_limits (classic builder only).
type ContainerLimits struct {
	Memory     any    `json:"memory"`
	Memswap    any    `json:"memswap"`
	CPUShares  *int64 `json:"cpushares"`
	CPUSetCPUs string `json:"cpusetcpus"`
}

// Spec is the module's argument spec.
func Spec() module.Spec {
	opts := map[string]*module.Option{
		"name":              {Type: module.TypeStr, Required: true},
		"tag":               {Type: module.TypeStr, Default: "latest"},
		"state":             {Type: module.TypeStr, Default: "present", Choices: []any{"present", "absent"}},
		"source":            {Type: module.TypeStr, Choices: []any{"build", "local"}},
		"force_source":      {Type: module.TypeBool, Default: false},
		"force_absent":      {Type: module.TypeBool, Default: false},
		"build_method":      {Type: module.TypeStr, Default: "auto", Choices: []any{"auto", "buildkit", "legacy"}},
		"build_timeout":     {Type: module.TypeInt, Default: 1800},
		"context_cache_dir": {Type: module.TypePath},
		"build": {Type: module.TypeDict, Options: map[string]*module.Option{
			"path":             {Type: module.TypePath, Required: true},
			"dockerfile":       {Type: module.TypeStr},
			"args":             {Type: module.TypeDict},
			"target":           {Type: module.TypeStr},
			"labels":           {Type: module.TypeDict},
			"nocache":          {Type: module.TypeBool, Default: false},
			"pull":             {Type: module.TypeBool, Default: false},
			"network":          {Type: module.TypeStr},
			"etc_hosts":        {Type: module.TypeDict},
			"platform":         {Type: module.TypeStr},
			"cache_from":       {Type: module.TypeList, Elements: module.TypeStr},
			"rm":               {Type: module.TypeBool, Default: true},
			"shm_size":         {Type: module.TypeStr},
			"http_timeout":     {Type: module.TypeInt},
			"use_config_proxy": {Type: module.TypeBool},
			"container_limits": {Type: module.TypeDict, Options: map[string]*module.Option{
				"memory":     {Type: module.TypeRaw},
				"memswap":    {Type: module.TypeRaw},
				"cpushares":  {Type: module.TypeInt},
				"cpusetcpus": {Type: module.TypeStr},
			}},
		}},
	}
	maps.Copy(opts, engine.ArgSpec())
	return module.Spec{
		Options: opts,
		RequiredIf: []module.RequiredIf{
			{Key: "state", Value: "present", Requirements: []string{"source"}},
			{Key: "source", Value: "build", Requirements: []string{"build"}},
		},
	}
}
