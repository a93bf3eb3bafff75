// Package buildkitimageset is the buildkit_image_set module: a set of images
// built together (concurrently, in one BuildKit session where the builder
// allows), each candidate gated (vulnerability scan, functional probes,
// metadata, and signing when it is on), the deploy tag moved to each that
// passed (the deployed image kept under the rollback tag first), and the
// run's report assembled. Each step is one of the collection's modules run
// in this process (module.Call): buildkit_image decides and builds, exactly as
// a task of its own would, buildkit_scan scans, buildkit_validate probes,
// buildkit_sign signs and verifies; package verdict decides.
package buildkitimageset

import (
	"maps"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitimage"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitvalidate"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Options are the module's arguments after validation.
type Options struct {
	engine.Options
	// buildkit_image's options for every build of the set (buildOnly),
	// passed on as they are.
	BuildMethod  string  `json:"build_method"`
	BuildTimeout int     `json:"build_timeout"`
	Retries      int     `json:"retries"`
	RetryDelay   float64 `json:"retry_delay"`
	LockTimeout  int     `json:"lock_timeout"`

	Images       []Image         `json:"images"`
	CandidateTag string          `json:"candidate_tag"`
	DeployTag    string          `json:"deploy_tag"`
	RollbackTag  string          `json:"rollback_tag"`
	Push         bool            `json:"push"`
	ForceSource  bool            `json:"force_source"`
	Scan         *Scan           `json:"scan"`
	Validation   *Checks         `json:"validation"`
	Metadata     *Meta           `json:"metadata"`
	Sign         *Sign           `json:"sign"`
	Preflight    *Pre            `json:"preflight"`
	Report       *Report         `json:"report"`
	CacheDir     string          `json:"context_cache_dir"`
	Builder      *builder.Choice `json:"builder"`
}

// Image is one entry of images.
type Image struct {
	Name       string            `json:"name"`
	Repository string            `json:"repository"`
	Kind       string            `json:"kind"`
	Files      map[string]string `json:"files"`
	Metadata   *ImageMeta        `json:"metadata"`
	// Build is buildkit_image's build option, Probes buildkit_validate's
	// probes: passed on to those modules as they are.
	Build  *buildkitimage.BuildOptions `json:"build"`
	Probes []Probe                     `json:"probes"`
}

// Probe is one probe of the validation gate.
type Probe struct {
	Name string `json:"name"`
	buildkitvalidate.Probe
}

// ImageMeta are an image's own metadata rules.
type ImageMeta struct {
	Expose      []string `json:"expose"`
	Healthcheck bool     `json:"healthcheck"`
}

// Scan is the scan option.
type Scan struct {
	Enabled            bool     `json:"enabled"`
	ScannerPath        string   `json:"scanner_path"`
	FailOn             []string `json:"fail_on"`
	Timeout            int      `json:"timeout"`
	Offline            bool     `json:"offline"`
	CacheDir           string   `json:"cache_dir"`
	FailOnScannerError bool     `json:"fail_on_scanner_error"`
	ReportDir          string   `json:"report_dir"`
	SBOM               bool     `json:"sbom"`
}

// Checks is the validation option.
type Checks struct {
	Enabled bool    `json:"enabled"`
	Budget  int     `json:"budget"`
	Memory  string  `json:"memory"`
	CPUs    float64 `json:"cpus"`
}

// Meta is the metadata option.
type Meta struct {
	Enabled bool     `json:"enabled"`
	Labels  []string `json:"labels"`
	NonRoot bool     `json:"non_root"`
}

// Sign is the sign option.
type Sign struct {
	Enabled         bool   `json:"enabled"`
	Key             string `json:"key"`
	KeyPassword     string `json:"key_password"`
	KeyPasswordFile string `json:"key_password_file"`
	PublicKey       string `json:"public_key"`
	Invocation      string `json:"invocation"`
}

// Pre is the preflight option.
type Pre struct {
	MinFreeDisk string `json:"min_free_disk"`
}

// Report is the report option.
type Report struct {
	Host          string            `json:"host"`
	Started       string            `json:"started"`
	Configuration map[string]any    `json:"configuration"`
	CacheLimit    string            `json:"cache_limit"`
	CacheMaxAge   int               `json:"cache_max_age"`
	Switches      map[string]string `json:"switches"`
}

// buildOnly are buildkit_image's options that apply to every build of the
// set, passed on as they are.
var buildOnly = []string{"build_method", "build_timeout", "retries", "retry_delay", "lock_timeout", "builder"}

// required is opt, required.
func required(opt *module.Option) *module.Option {
	o := *opt
	o.Required = true
	return &o
}

// Spec is the module's argument spec. The per-image build option is
// buildkit_image's own, and each probe buildkit_validate's: one definition.
func Spec() module.Spec {
	image := buildkitimage.Spec().Options
	probe := map[string]*module.Option{"name": {Type: module.TypeStr, Required: true}}
	for k, v := range buildkitvalidate.Spec().Options {
		if _, isEngine := engine.ArgSpec()[k]; isEngine || k == "image" || k == "budget" || k == "memory" || k == "cpus" {
			continue
		}
		probe[k] = v
	}
	severities := []any{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}
	opts := map[string]*module.Option{
		"images": {Type: module.TypeList, Elements: module.TypeDict, Required: true, Options: map[string]*module.Option{
			"name":       {Type: module.TypeStr, Required: true},
			"repository": {Type: module.TypeStr, Required: true},
			"kind":       {Type: module.TypeStr, Default: "agent", Choices: []any{"controller", "agent"}},
			"files":      {Type: module.TypeDict},
			"build":      required(image["build"]),
			"probes": {Type: module.TypeList, Elements: module.TypeDict, Options: probe,
				RequiredOneOf: [][]string{{"http", "command"}}, MutuallyExclusive: [][]string{{"http", "command"}}},
			"metadata": {Type: module.TypeDict, Options: map[string]*module.Option{
				"expose":      {Type: module.TypeList, Elements: module.TypeStr, Default: []any{}},
				"healthcheck": {Type: module.TypeBool, Default: false},
			}},
		}},
		"candidate_tag":     {Type: module.TypeStr, Default: "candidate"},
		"deploy_tag":        {Type: module.TypeStr},
		"rollback_tag":      {Type: module.TypeStr},
		"push":              {Type: module.TypeBool, Default: false},
		"force_source":      {Type: module.TypeBool, Default: false},
		"context_cache_dir": image["context_cache_dir"],
		"scan": {Type: module.TypeDict, Options: map[string]*module.Option{
			"enabled":               {Type: module.TypeBool, Default: true},
			"scanner_path":          {Type: module.TypeStr, Default: "trivy"},
			"fail_on":               {Type: module.TypeList, Elements: module.TypeStr, Default: []any{"CRITICAL"}, Choices: severities},
			"timeout":               {Type: module.TypeInt, Default: 300},
			"offline":               {Type: module.TypeBool, Default: false},
			"cache_dir":             {Type: module.TypePath},
			"fail_on_scanner_error": {Type: module.TypeBool, Default: true},
			"report_dir":            {Type: module.TypePath},
			"sbom":                  {Type: module.TypeBool, Default: false},
		}},
		"validation": {Type: module.TypeDict, Options: map[string]*module.Option{
			"enabled": {Type: module.TypeBool, Default: true},
			"budget":  {Type: module.TypeInt, Default: 300},
			"memory":  {Type: module.TypeStr},
			"cpus":    {Type: module.TypeFloat},
		}},
		"metadata": {Type: module.TypeDict, Options: map[string]*module.Option{
			"enabled":  {Type: module.TypeBool, Default: true},
			"labels":   {Type: module.TypeList, Elements: module.TypeStr, Default: []any{}},
			"non_root": {Type: module.TypeBool, Default: true},
		}},
		"sign": {Type: module.TypeDict, Options: map[string]*module.Option{
			"enabled":           {Type: module.TypeBool, Default: true},
			"key":               {Type: module.TypePath},
			"key_password":      {Type: module.TypeStr, NoLog: true},
			"key_password_file": {Type: module.TypePath},
			"public_key":        {Type: module.TypePath},
			"invocation":        {Type: module.TypeStr, Default: "jenkins_ha.buildkit.buildkit_image_set"},
		}, MutuallyExclusive: [][]string{{"key_password", "key_password_file"}}},
		"preflight": {Type: module.TypeDict, Options: map[string]*module.Option{
			"min_free_disk": {Type: module.TypeStr, Default: "5GB"},
		}},
		"report": {Type: module.TypeDict, Options: map[string]*module.Option{
			"host":          {Type: module.TypeStr},
			"started":       {Type: module.TypeStr},
			"configuration": {Type: module.TypeDict},
			"cache_limit":   {Type: module.TypeStr},
			"cache_max_age": {Type: module.TypeInt, Default: 300},
			"switches":      {Type: module.TypeDict},
		}},
		"builder": builder.ArgSpec(),
	}
	for _, k := range buildOnly {
		opts[k] = image[k]
	}
	maps.Copy(opts, engine.ArgSpec())
	return module.Spec{Options: opts, Returns: returns()}
}

// returns declares the module's result keys (documented in RETURN).
func returns() map[string]*module.Return {
	dict := &module.Return{Type: module.TypeDict}
	return map[string]*module.Return{
		"images":        {Type: module.TypeList, Elements: module.TypeDict},
		"lines":         {Type: module.TypeList, Elements: module.TypeStr},
		"summary":       dict,
		"report":        dict,
		"scans":         {Type: module.TypeList, Elements: module.TypeDict},
		"scans_archive": {Type: module.TypeStr},
		"preflight":     dict,
		"sessions":      {Type: module.TypeInt},
	}
}
