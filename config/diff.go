package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Change is one key whose value differs between two configurations, with
// both values as a person reads them ("(none)" for a table entry that one
// side lacks).
type Change struct {
	Key      string
	Old, New string
}

func (c Change) String() string { return c.Key + ": " + c.Old + " → " + c.New }

// absent stands for a table entry (such as a runtime handler) that one
// side does not have.
const absent = "(none)"

// Diff lists the keys whose values differ between a and b, by their TOML
// names ("registry.config_path", "runtimes.kata.binary_name"), in the
// order of the Config struct, table entries by name. It walks the struct,
// so a key added to Config is compared without further work.
func Diff(a, b *Config) []Change {
	var out []Change
	diffValue(&out, "", reflect.ValueOf(*a), reflect.ValueOf(*b))
	return out
}

func diffValue(out *[]Change, key string, a, b reflect.Value) {
	switch a.Kind() {
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			name := tomlName(t.Field(i))
			if name == "" {
				continue
			}
			diffValue(out, join(key, name), a.Field(i), b.Field(i))
		}
	case reflect.Map:
		keys := map[string]bool{}
		for _, k := range a.MapKeys() {
			keys[k.String()] = true
		}
		for _, k := range b.MapKeys() {
			keys[k.String()] = true
		}
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, name := range names {
			k := reflect.ValueOf(name)
			av, bv := a.MapIndex(k), b.MapIndex(k)
			sub := join(key, tomlKey(name))
			switch {
			case !av.IsValid():
				*out = append(*out, Change{Key: sub, Old: absent, New: format(bv)})
			case !bv.IsValid():
				*out = append(*out, Change{Key: sub, Old: format(av), New: absent})
			default:
				diffValue(out, sub, av, bv)
			}
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, Change{Key: key, Old: format(a), New: format(b)})
		}
	}
}

// format writes a value compactly: strings bare (an empty one as ""),
// durations as Go writes them, tables as {key=value, ...} without the
// keys left empty.
func format(v reflect.Value) string {
	if s, ok := v.Interface().(fmt.Stringer); ok {
		return s.String()
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
		return v.String()
	case reflect.Struct:
		var parts []string
		t := v.Type()
		for i := range t.NumField() {
			name := tomlName(t.Field(i))
			if name == "" || v.Field(i).IsZero() {
				continue
			}
			parts = append(parts, name+"="+format(v.Field(i)))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = format(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// tomlName is a field's key in the file; "" for a field the file does
// not have.
func tomlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// tomlKey writes a table entry's name as TOML does: bare when it can be.
func tomlKey(name string) string {
	if bareKey.MatchString(name) {
		return name
	}
	return fmt.Sprintf("%q", name)
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
