// Package buildkitimage is the buildkit_image module: community.docker's
// docker_image options and results, built with BuildKit.
package buildkitimage

import (
	"maps"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Options are the module's arguments after validation.
type Options struct {
	engine.Options
	Name             string          `json:"name"`
	Tag              string          `json:"tag"`
	State            string          `json:"state"`
	Source           string          `json:"source"`
	LoadPath         string          `json:"load_path"`
	ArchivePath      string          `json:"archive_path"`
	ForceSource      bool            `json:"force_source"`
	ForceTag         bool            `json:"force_tag"`
	ForceAbsent      bool            `json:"force_absent"`
	Push             bool            `json:"push"`
	Repository       string          `json:"repository"`
	RollbackTag      string          `json:"rollback_tag"`
	Pull             *PullOptions    `json:"pull"`
	Build            *BuildOptions   `json:"build"`
	BuildMethod      string          `json:"build_method"`
	BuildTimeout     int             `json:"build_timeout"`
	CacheDir         string          `json:"context_cache_dir"`
	RegistryUsername string          `json:"registry_username"`
	RegistryPassword string          `json:"registry_password"`
	Retries          int             `json:"retries"`
	RetryDelay       float64         `json:"retry_delay"`
	LockTimeout      int             `json:"lock_timeout"`
	Builder          *builder.Choice `json:"builder"`
}

// PullOptions are docker_image's pull.* suboptions.
type PullOptions struct {
	Platform string `json:"platform"`
}

// BuildOptions are docker_image's build.* suboptions plus BuildKit's.
type BuildOptions struct {
	Path            string           `json:"path"`
	Dockerfile      string           `json:"dockerfile"`
	Args            module.StringMap `json:"args"`
	Target          string           `json:"target"`
	Labels          module.StringMap `json:"labels"`
	NoCache         bool             `json:"nocache"`
	Pull            bool             `json:"pull"`
	Network         string           `json:"network"`
	EtcHosts        module.StringMap `json:"etc_hosts"`
	Platform        []string         `json:"platform"`
	Provenance      string           `json:"provenance"`
	SBOM            bool             `json:"sbom"`
	SBOMGenerator   string           `json:"sbom_generator"`
	CacheFrom       []any            `json:"cache_from"`
	CacheTo         []CacheEntry     `json:"cache_to"`
	Rm              bool             `json:"rm"`
	ShmSize         string           `json:"shm_size"`
	HTTPTimeout     *int             `json:"http_timeout"`
	UseConfigProxy  *bool            `json:"use_config_proxy"`
	ContainerLimits *ContainerLimits `json:"container_limits"`
	Secrets         []Secret         `json:"secrets"`
	SSH             []SSHAgent       `json:"ssh"`
	Outputs         []Output         `json:"outputs"`
	CreatedLabel    bool             `json:"created_label"`
}

// ContainerLimits are build.container_limits (classic builder only).
type ContainerLimits struct {
	Memory     any    `json:"memory"`
	Memswap    any    `json:"memswap"`
	CPUShares  *int64 `json:"cpushares"`
	CPUSetCPUs string `json:"cpusetcpus"`
}

// Secret is one build.secrets entry, as in docker_image_build.
type Secret struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Src   string `json:"src"`
	Env   string `json:"env"`
	Value string `json:"value"`
}

// SSHAgent is one build.ssh entry: an ID and the agent sockets or keys behind it.
type SSHAgent struct {
	ID    string   `json:"id"`
	Paths []string `json:"paths"`
}

// CacheEntry is a typed cache import or export.
type CacheEntry struct {
	Type string `json:"type"`
	Ref  string `json:"ref"`
	Mode string `json:"mode"`
	Src  string `json:"src"`
	Dest string `json:"dest"`
	// Attrs are passed as they are to BuildKit for types this module does not model (gha, s3, azblob).
	Attrs map[string]any `json:"attrs"`
}

// Output is one build.outputs entry, as in docker_image_build.
type Output struct {
	Type string   `json:"type"`
	Dest string   `json:"dest"`
	Name []string `json:"name"`
	Push bool     `json:"push"`
}

// Spec is the module's argument spec.
func Spec() module.Spec {
	cacheEntry := map[string]*module.Option{
		"type":  {Type: module.TypeStr, Required: true, Choices: []any{"inline", "registry", "local", "gha", "s3", "azblob"}},
		"attrs": {Type: module.TypeDict},
		"ref":   {Type: module.TypeStr},
		"mode":  {Type: module.TypeStr, Choices: []any{"min", "max"}},
		"src":   {Type: module.TypePath},
		"dest":  {Type: module.TypePath},
	}
	opts := map[string]*module.Option{
		"name":              {Type: module.TypeStr, Required: true},
		"tag":               {Type: module.TypeStr, Default: "latest"},
		"state":             {Type: module.TypeStr, Default: "present", Choices: []any{"present", "absent"}},
		"source":            {Type: module.TypeStr, Choices: []any{"build", "load", "pull", "local"}},
		"load_path":         {Type: module.TypePath},
		"archive_path":      {Type: module.TypePath},
		"force_source":      {Type: module.TypeBool, Default: false},
		"force_tag":         {Type: module.TypeBool, Default: false},
		"force_absent":      {Type: module.TypeBool, Default: false},
		"push":              {Type: module.TypeBool, Default: false},
		"repository":        {Type: module.TypeStr},
		"rollback_tag":      {Type: module.TypeStr},
		"pull":              {Type: module.TypeDict, Options: map[string]*module.Option{"platform": {Type: module.TypeStr}}},
		"build_method":      {Type: module.TypeStr, Default: "auto", Choices: []any{"auto", "buildkit", "legacy"}},
		"build_timeout":     {Type: module.TypeInt, Default: 1800},
		"context_cache_dir": {Type: module.TypePath},
		"registry_username": {Type: module.TypeStr},
		"registry_password": {Type: module.TypeStr, NoLog: true},
		"retries":           {Type: module.TypeInt, Default: 3},
		"retry_delay":       {Type: module.TypeFloat, Default: 1.0},
		"lock_timeout":      {Type: module.TypeInt, Default: 1800},
		"builder":           builder.ArgSpec(),
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
			"platform":         {Type: module.TypeList, Elements: module.TypeStr},
			"provenance":       {Type: module.TypeStr, Choices: []any{"min", "max"}},
			"sbom":             {Type: module.TypeBool, Default: false},
			"sbom_generator":   {Type: module.TypeStr},
			"cache_from":       {Type: module.TypeList, Elements: module.TypeRaw},
			"cache_to":         {Type: module.TypeList, Elements: module.TypeDict, Options: cacheEntry},
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
			"secrets": {Type: module.TypeList, Elements: module.TypeDict,
				Options: map[string]*module.Option{
					"id":    {Type: module.TypeStr, Required: true},
					"type":  {Type: module.TypeStr, Required: true, Choices: []any{"file", "env", "value"}},
					"src":   {Type: module.TypePath},
					"env":   {Type: module.TypeStr},
					"value": {Type: module.TypeStr, NoLog: true},
				},
				MutuallyExclusive: [][]string{{"src", "env", "value"}},
				RequiredIf: []module.RequiredIf{
					{Key: "type", Value: "file", Requirements: []string{"src"}},
					{Key: "type", Value: "env", Requirements: []string{"env"}},
					{Key: "type", Value: "value", Requirements: []string{"value"}},
				},
			},
			"ssh": {Type: module.TypeList, Elements: module.TypeDict, Options: map[string]*module.Option{
				"id":    {Type: module.TypeStr, Default: "default"},
				"paths": {Type: module.TypeList, Elements: module.TypePath},
			}},
			"created_label": {Type: module.TypeBool, Default: false},
			"outputs": {Type: module.TypeList, Elements: module.TypeDict, Options: map[string]*module.Option{
				"type": {Type: module.TypeStr, Required: true, Choices: []any{"docker", "image", "local", "tar", "oci"}},
				"dest": {Type: module.TypePath},
				"name": {Type: module.TypeList, Elements: module.TypeStr},
				"push": {Type: module.TypeBool, Default: false},
			}},
		}},
	}
	maps.Copy(opts, engine.ArgSpec())
	return module.Spec{
		Options: opts,
		RequiredIf: []module.RequiredIf{
			{Key: "state", Value: "present", Requirements: []string{"source"}},
			{Key: "source", Value: "build", Requirements: []string{"build"}},
			{Key: "source", Value: "load", Requirements: []string{"load_path"}},
		},
		RequiredTogether: [][]string{{"registry_username", "registry_password"}},
		Returns:          returns(),
	}
}

// returns declares the module's result keys (documented in RETURN).
func returns() map[string]*module.Return {
	str, integer, float := &module.Return{Type: module.TypeStr}, &module.Return{Type: module.TypeInt}, &module.Return{Type: module.TypeFloat}
	strList := &module.Return{Type: module.TypeList, Elements: module.TypeStr}
	return map[string]*module.Return{
		// A promotion with rollback_tag (promote.go).
		"rollback":              {Type: module.TypeDict, Contains: map[string]*module.Return{"tag": str, "image": str}},
		"promotion_settled":     {Type: module.TypeDict},
		"promotion_interrupted": {Type: module.TypeBool},
		// The engine's image inspect object, plus what the module adds to it.
		"image": {Type: module.TypeDict, Open: true, Contains: map[string]*module.Return{
			"push_status": str,
			"state":       str,
		}},
		"actions":           strList,
		"stdout":            str,
		"builder":           str,
		"builder_driver":    str,
		"builder_container": str,
		// A build on a builder of several nodes (cluster.go).
		"builder_nodes": strList,
		"placement": {Type: module.TypeList, Elements: module.TypeDict, Contains: map[string]*module.Return{
			"node": str, "endpoint": str, "platforms": strList, "emulated": strList, "reason": str,
			"moved_from":    {Type: module.TypeList, Elements: module.TypeDict, Contains: map[string]*module.Return{"node": str, "reason": str}},
			"fresh_copy":    {Type: module.TypeBool},
			"build_retries": integer,
		}},
		"nodes_down":         {Type: module.TypeList, Elements: module.TypeDict, Contains: map[string]*module.Return{"node": str, "reason": str}},
		"build_reason":       str,
		"build_duration":     float,
		"build_retries":      integer,
		"push_retries":       integer,
		"pull_retries":       integer,
		"total_steps":        integer,
		"cached_steps":       integer,
		"cache_hit_ratio":    float,
		"base_images_pulled": strList,
		"waited_for_lock":    {Type: module.TypeBool},
		"manifest": {Type: module.TypeDict, Contains: map[string]*module.Return{
			"digest":       str,
			"platforms":    strList,
			"attestations": strList,
		}},
		"attestations":  str,
		"inputs_digest": str,
		"context": {Type: module.TypeDict, Contains: map[string]*module.Return{
			"files":       integer,
			"bytes":       integer,
			"hashed":      integer,
			"ignore_file": str,
			"fresh_copy":  {Type: module.TypeBool},
		}},
	}
}
