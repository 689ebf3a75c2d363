// Command gen writes the Go kit's contract constants and types from the C
// header, so that no status number, strategy, flag or struct layout is ever
// retyped by hand. Run it with `go generate` in kits/go (doc.go has the
// directive); main_test.go fails when the committed output differs from what
// the header gives now.
//
// From targets/include/fuzzharness_decls.h it writes two files into the kit:
//
//   - contract_gen.go: every integer typedef, enum and plain struct of the
//     header as Go types with the same layout (typedef uint64_t fh_handle ->
//     type Handle uint64; enum fh_status_code -> type Status int32 and its
//     constants OK, InvalidHandle, ...; struct fh_config -> type Config with
//     Capacity, Strategy, ...), each with the header's own comment as its doc.
//   - contract_check_gen.go: a cgo file that includes the header and fails to
//     compile unless every constant equals the header's and every struct has
//     the header's size and every field its offset and size.
//
// The header is parsed, not preprocessed: it has no preprocessor lines (cffi
// reads it too). Anything the generator does not know how to map (a new
// enum, typedef, or field type) is an error naming it and the table below to
// extend: a contract change never silently goes missing from the kit.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// enumSpec says how one C enum becomes Go constants.
type enumSpec struct {
	goType   string // the constants' type ("" for untyped constants)
	declare  string // the underlying type when this enum declares goType itself (no typedef names it)
	what     string // what the constants are, for the doc comments
	stringer bool   // goType gets a String method returning the header's names
}

// enums maps every enum of the header to its Go form. An enum missing here
// stops the generator.
var enums = map[string]enumSpec{
	"fh_status_code":      {goType: "Status", what: "contract status codes", stringer: true},
	"fh_reclaim_strategy": {goType: "Strategy", declare: "uint32", what: "reclamation strategies", stringer: true},
	"fh_abi":              {what: "the ABI version the header describes"},
	"fh_config_flag":      {goType: "uint64", what: "bits of Config.Flags"},
}

// typedefs maps the header's integer typedefs to Go type names.
var typedefs = map[string]string{
	"fh_handle": "Handle",
	"fh_status": "Status",
}

// skippedStructs are structs of the header with no Go form in the kit:
// fh_backend is a table of C function pointers of cross-runtime owners,
// which Go cannot call (the Go shim's trampolines do).
var skippedStructs = map[string]bool{"fh_backend": true}

// fieldTypes maps the C types of struct fields to Go types.
var fieldTypes = map[string]string{
	"uint32_t":  "uint32",
	"uint64_t":  "uint64",
	"int32_t":   "int32",
	"fh_handle": "Handle",
	"fh_status": "Status",
}

// fieldOverrides gives a field a more precise Go type than its C type
// (C carries a strategy as a plain uint32_t).
var fieldOverrides = map[string]string{"strategy": "Strategy"}

// initialisms are words spelled in capitals in Go names.
var initialisms = map[string]string{"abi": "ABI", "ok": "OK"}

func main() {
	header := flag.String("header", "../../targets/include/fuzzharness_decls.h", "the contract's declarations")
	out := flag.String("out", ".", "the kit's directory")
	flag.Parse()
	if err := run(*header, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(headerPath, outDir string) error {
	text, err := os.ReadFile(headerPath)
	if err != nil {
		return err
	}
	files, err := Generate(string(text), filepath.Base(headerPath))
	if err != nil {
		return fmt.Errorf("%s: %w", headerPath, err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(outDir, name), content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Output file names.
const (
	typesFile = "contract_gen.go"
	checkFile = "contract_check_gen.go"
)

// Generate returns the generated files (name -> gofmt'ed source) for the
// header text; header is the file name written into the files' banners.
func Generate(text, header string) (map[string][]byte, error) {
	h, err := parse(text)
	if err != nil {
		return nil, err
	}
	types, err := h.typesSource(header)
	if err != nil {
		return nil, err
	}
	check, err := h.checkSource(header)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{typesFile: types, checkFile: check}, nil
}

// ----------------------------------------------------------------- parsing

type constant struct {
	cName, goName string
	value         uint64
	doc           string
}

type cEnum struct {
	name   string
	doc    string
	spec   enumSpec
	values []constant
}

type field struct {
	cName, goName, cType, goType string
	doc                          string
}

type cStruct struct {
	cName, goName string
	doc           string
	fields        []field
}

type typedef struct {
	cName, goName, cType string
	doc                  string
}

type parsed struct {
	typedefs []typedef
	enums    []cEnum
	structs  []cStruct
}

// source is the header with every comment blanked out (same offsets), so
// that the regular expressions below match code only, while comments are
// still found by offset in the original text.
type source struct {
	raw, code string
}

var (
	commentRe = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)
	typedefRe = regexp.MustCompile(`typedef\s+((?:u?int(?:8|16|32|64)_t))\s+(\w+)\s*;`)
	enumRe    = regexp.MustCompile(`enum\s+(\w+)\s*\{([^}]*)\}\s*;`)
	entryRe   = regexp.MustCompile(`(\w+)\s*=\s*(\w+)`)
	structRe  = regexp.MustCompile(`typedef\s+struct\s+(\w+)\s*\{([^}]*)\}\s*(\w+)\s*;`)
	fieldRe   = regexp.MustCompile(`(\w+)\s+(\w+)\s*;`)
	pointerRe = regexp.MustCompile(`typedef\s+\w+\s*\(\s*\*`)
	typedefKw = regexp.MustCompile(`\btypedef\b`)
)

func newSource(raw string) source {
	code := commentRe.ReplaceAllStringFunc(raw, func(c string) string {
		return strings.Map(func(r rune) rune {
			if r == '\n' {
				return r
			}
			return ' '
		}, c)
	})
	return source{raw: raw, code: code}
}

// trailingComment returns the text of the comments that start on the line
// where the code at offset end stops (a field's or constant's own comment),
// continuing up to stop.
func (s source) trailingComment(end, stop int) string {
	lineEnd := strings.IndexByte(s.raw[end:], '\n')
	if lineEnd < 0 {
		lineEnd = len(s.raw) - end
	}
	var parts []string
	for _, loc := range commentRe.FindAllStringIndex(s.raw[end:stop], -1) {
		if loc[0] > lineEnd {
			break
		}
		parts = append(parts, commentText(s.raw[end+loc[0]:end+loc[1]]))
	}
	return strings.Join(parts, " ")
}

// leadingComment returns the lines of the comment that ends right before
// offset start (only blank space between), joined by newlines, or "".
func (s source) leadingComment(start int) string {
	before := strings.TrimRight(s.raw[:start], " \t\n")
	if !strings.HasSuffix(before, "*/") {
		return ""
	}
	open := strings.LastIndex(before, "/*")
	if open < 0 {
		return ""
	}
	return strings.Join(commentLines(before[open:]), "\n")
}

// commentText is a C comment's words, its markers and leading stars removed,
// on one line.
func commentText(c string) string { return strings.Join(commentLines(c), " ") }

// commentLines is a C comment's lines, its markers, leading stars and
// rulers (lines of '=' only) removed.
func commentLines(c string) []string {
	c = strings.TrimPrefix(strings.TrimPrefix(c, "//"), "/*")
	c = strings.TrimSuffix(c, "*/")
	var lines []string
	for _, line := range strings.Split(c, "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimSpace(strings.TrimPrefix(line, "*"))
		if line != "" && strings.Trim(line, "=* ") != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

func parse(text string) (*parsed, error) {
	s := newSource(text)
	p := &parsed{}
	known, structs := 0, 0
	for _, m := range typedefRe.FindAllStringSubmatchIndex(s.code, -1) {
		cType, cName := s.code[m[2]:m[3]], s.code[m[4]:m[5]]
		goName, ok := typedefs[cName]
		if !ok {
			return nil, fmt.Errorf("typedef %s %s has no Go name: add it to typedefs in internal/gen/main.go", cType, cName)
		}
		p.typedefs = append(p.typedefs, typedef{cName: cName, goName: goName, cType: cType, doc: s.trailingComment(m[1], len(s.raw))})
		known++
	}
	for _, m := range enumRe.FindAllStringSubmatchIndex(s.code, -1) {
		name := s.code[m[2]:m[3]]
		spec, ok := enums[name]
		if !ok {
			return nil, fmt.Errorf("enum %s has no Go form: add it to enums in internal/gen/main.go", name)
		}
		e := cEnum{name: name, doc: s.leadingComment(m[0]), spec: spec}
		body := s.code[m[4]:m[5]]
		entries := entryRe.FindAllStringSubmatchIndex(body, -1)
		for i, em := range entries {
			cName, lit := body[em[2]:em[3]], body[em[4]:em[5]]
			value, err := strconv.ParseUint(lit, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("enum %s: %s = %s is not a decimal number", name, cName, lit)
			}
			if !strings.HasPrefix(cName, "FH_") {
				return nil, fmt.Errorf("enum %s: constant %s lacks the FH_ prefix", name, cName)
			}
			stop := m[5]
			if i+1 < len(entries) {
				stop = m[4] + entries[i+1][0]
			}
			doc := s.trailingComment(m[4]+em[1], stop)
			e.values = append(e.values, constant{cName: cName, goName: goName(strings.TrimPrefix(cName, "FH_")), value: value, doc: doc})
		}
		if len(e.values) == 0 {
			return nil, fmt.Errorf("enum %s has no constants", name)
		}
		p.enums = append(p.enums, e)
		known++
	}
	for _, m := range structRe.FindAllStringSubmatchIndex(s.code, -1) {
		tag, alias := s.code[m[2]:m[3]], s.code[m[6]:m[7]]
		if tag != alias {
			return nil, fmt.Errorf("typedef struct %s { ... } %s: the kit expects the tag and the name to be equal", tag, alias)
		}
		known++
		structs++
		if skippedStructs[alias] {
			continue
		}
		st := cStruct{cName: alias, goName: goName(strings.TrimPrefix(alias, "fh_")), doc: s.leadingComment(m[0])}
		body := s.code[m[4]:m[5]]
		fields := fieldRe.FindAllStringSubmatchIndex(body, -1)
		for i, fm := range fields {
			cType, cName := body[fm[2]:fm[3]], body[fm[4]:fm[5]]
			goType, ok := fieldTypes[cType]
			if !ok {
				return nil, fmt.Errorf("struct %s: field %s has C type %s, which has no Go type: add it to fieldTypes in internal/gen/main.go",
					alias, cName, cType)
			}
			if o, ok := fieldOverrides[cName]; ok {
				goType = o
			}
			stop := m[5]
			if i+1 < len(fields) {
				stop = m[4] + fields[i+1][0]
			}
			st.fields = append(st.fields, field{
				cName: cName, goName: goName(cName), cType: cType, goType: goType,
				doc: s.trailingComment(m[4]+fm[1], stop),
			})
		}
		if len(st.fields) == 0 {
			return nil, fmt.Errorf("struct %s has no fields", alias)
		}
		p.structs = append(p.structs, st)
	}
	// Every typedef of the header is an integer typedef, a struct, or a
	// function pointer type (used only by the skipped fh_backend). Anything
	// else is a kind of declaration the generator does not know yet.
	pointers := len(pointerRe.FindAllString(s.code, -1))
	understood := len(p.typedefs) + structs + pointers
	if all := len(typedefKw.FindAllString(s.code, -1)); all != understood {
		return nil, fmt.Errorf("the header has %d typedefs, the generator understood %d: teach internal/gen/main.go the new kind",
			all, understood)
	}
	if known == 0 {
		return nil, fmt.Errorf("no declarations found")
	}
	return p, nil
}

// goName turns snake_case or UPPER_CASE into a Go name: RECLAIM_GO_CLEANUP
// -> ReclaimGoCleanup, live_bytes -> LiveBytes, ABI_MAJOR -> ABIMajor.
func goName(c string) string {
	var b strings.Builder
	for _, w := range strings.Split(strings.ToLower(c), "_") {
		if w == "" {
			continue
		}
		if i, ok := initialisms[w]; ok {
			b.WriteString(i)
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// ---------------------------------------------------------------- writing

func banner(header string) string {
	return fmt.Sprintf("// Code generated by go run ./internal/gen from targets/include/%s; DO NOT EDIT.\n\n", header)
}

// docLines writes text as a Go doc comment (wrapped) with the given indent.
func docLines(b *bytes.Buffer, indent, text string) {
	const width = 76
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			fmt.Fprintf(b, "%s// %s\n", indent, line)
			line = ""
		}
		if line == "" {
			line = w
		} else {
			line += " " + w
		}
	}
	if line != "" {
		fmt.Fprintf(b, "%s// %s\n", indent, line)
	}
}

// docVerbatim writes lines (the header's own wrapping) as a Go doc comment.
func docVerbatim(b *bytes.Buffer, lines string) {
	for _, line := range strings.Split(lines, "\n") {
		fmt.Fprintf(b, "// %s\n", line)
	}
}

func (p *parsed) typesSource(header string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(banner(header))
	b.WriteString("package fhadapter\n\n")
	for _, t := range p.typedefs {
		docLines(&b, "", fmt.Sprintf("%s is %s of the header (C %s).", t.goName, t.cName, t.cType))
		if t.doc != "" {
			b.WriteString("//\n")
			docLines(&b, "", t.doc)
		}
		fmt.Fprintf(&b, "type %s %s\n\n", t.goName, goInt(t.cType))
	}
	for _, e := range p.enums {
		if e.spec.declare != "" {
			docLines(&b, "", fmt.Sprintf("%s is one of the %s (enum %s; C %s).", e.spec.goType, e.spec.what, e.name, cOf(e.spec.declare)))
			fmt.Fprintf(&b, "type %s %s\n\n", e.spec.goType, e.spec.declare)
		}
		docLines(&b, "", fmt.Sprintf("enum %s: %s.", e.name, e.spec.what))
		if e.doc != "" {
			b.WriteString("//\n")
			docVerbatim(&b, e.doc)
		}
		b.WriteString("const (\n")
		for _, c := range e.values {
			docLines(&b, "\t", sentence(c.goName+" is "+c.cName, c.doc))
			if e.spec.goType != "" {
				fmt.Fprintf(&b, "\t%s %s = %d\n", c.goName, e.spec.goType, c.value)
			} else {
				fmt.Fprintf(&b, "\t%s = %d\n", c.goName, c.value)
			}
		}
		b.WriteString(")\n\n")
		if e.spec.stringer {
			fmt.Fprintf(&b, "// String returns the header's name of the %s (%s),\n// or the enum's name and the number for one the header does not define.\n",
				strings.ToLower(e.spec.goType), e.values[0].cName)
			fmt.Fprintf(&b, "func (v %s) String() string {\n\tswitch v {\n", e.spec.goType)
			for _, c := range e.values {
				fmt.Fprintf(&b, "\tcase %s:\n\t\treturn %q\n", c.goName, c.cName)
			}
			fmt.Fprintf(&b, "\t}\n\treturn %q + strconv.FormatInt(int64(v), 10)\n}\n\n", e.name+" ")
		}
	}
	for _, st := range p.structs {
		docLines(&b, "", fmt.Sprintf("%s has the layout of struct %s, so C passes it in place.", st.goName, st.cName))
		if st.doc != "" {
			b.WriteString("//\n")
			docVerbatim(&b, st.doc)
		}
		fmt.Fprintf(&b, "type %s struct {\n", st.goName)
		for _, f := range st.fields {
			if f.doc != "" {
				docLines(&b, "\t", sentence(f.goName, f.doc))
			}
			fmt.Fprintf(&b, "\t%s %s\n", f.goName, f.goType)
		}
		b.WriteString("}\n\n")
	}
	src := b.String()
	if strings.Contains(src, "strconv.") {
		src = strings.Replace(src, "package fhadapter\n\n", "package fhadapter\n\nimport \"strconv\"\n\n", 1)
	}
	return gofmt(typesFile, src)
}

func (p *parsed) checkSource(header string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(banner(header))
	b.WriteString(`package fhadapter

// Each line fails to compile unless the Go side of contract_gen.go equals
// the C header: the index of a one-element array must be the constant 0 (a
// positive one is out of range, a negative one or an unsigned underflow is
// refused).

/*
#cgo CFLAGS: -I${SRCDIR}/../../targets/include
#include "fuzzharness.h"
*/
import "C"

import "unsafe"

var (
`)
	for _, t := range p.typedefs {
		fmt.Fprintf(&b, "\t_ = [1]struct{}{}[unsafe.Sizeof(C.%s(0))-unsafe.Sizeof(%s(0))]\n", t.cName, t.goName)
	}
	for _, e := range p.enums {
		for _, c := range e.values {
			fmt.Fprintf(&b, "\t_ = [1]struct{}{}[C.%s-%s]\n", c.cName, c.goName)
		}
	}
	for _, st := range p.structs {
		fmt.Fprintf(&b, "\t_ = [1]struct{}{}[unsafe.Sizeof(C.%s{})-unsafe.Sizeof(%s{})]\n", st.cName, st.goName)
		for _, f := range st.fields {
			fmt.Fprintf(&b, "\t_ = [1]struct{}{}[unsafe.Offsetof(C.%s{}.%s)-unsafe.Offsetof(%s{}.%s)]\n", st.cName, f.cName, st.goName, f.goName)
			fmt.Fprintf(&b, "\t_ = [1]struct{}{}[unsafe.Sizeof(C.%s{}.%s)-unsafe.Sizeof(%s{}.%s)]\n", st.cName, f.cName, st.goName, f.goName)
		}
	}
	b.WriteString(")\n")
	return gofmt(checkFile, b.String())
}

func gofmt(name, src string) ([]byte, error) {
	out, err := format.Source([]byte(src))
	if err != nil {
		return nil, fmt.Errorf("generated %s does not parse: %w", name, err)
	}
	return out, nil
}

// sentence is "subject: doc." (or "subject." without doc).
func sentence(subject, doc string) string {
	if doc == "" {
		return subject + "."
	}
	if !strings.HasSuffix(doc, ".") && !strings.HasSuffix(doc, ")") {
		doc += "."
	} else if strings.HasSuffix(doc, ")") {
		doc += "."
	}
	return subject + ": " + doc
}

func goInt(cType string) string { return strings.TrimSuffix(cType, "_t") }

func cOf(goType string) string { return goType + "_t" }
