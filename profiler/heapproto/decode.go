package heapproto

import "math"

// Field numbers of profile.proto's messages.
const (
	fProfileSampleType  = 1
	fProfileSample      = 2
	fProfileMapping     = 3
	fProfileLocation    = 4
	fProfileFunction    = 5
	fProfileString      = 6
	fProfileDropFrames  = 7
	fProfileKeepFrames  = 8
	fProfileTimeNanos   = 9
	fProfileDuration    = 10
	fProfilePeriodType  = 11
	fProfilePeriod      = 12
	fProfileComment     = 13
	fProfileDefaultType = 14
	fProfileDocURL      = 15
)

// Wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// field is one decoded protobuf field: a varint / fixed value, or bytes.
type field struct {
	num  uint64
	typ  uint64
	u64  uint64
	data []byte
}

// varint reads a varint exactly as profile's decoder does (at most 10 bytes,
// excess bits dropped).
func varint(data []byte) (uint64, []byte, bool) {
	var u uint64
	for i := 0; i < 10 && i < len(data); i++ {
		b := data[i]
		u |= uint64(b&0x7f) << uint(7*i)
		if b&0x80 == 0 {
			return u, data[i+1:], true
		}
	}
	return 0, nil, false
}

// next reads one field from data and returns the rest.
func next(data []byte, f *field) ([]byte, error) {
	x, data, ok := varint(data)
	if !ok {
		return nil, malformed("bad varint")
	}
	f.num, f.typ, f.u64, f.data = x>>3, x&7, 0, nil
	switch f.typ {
	case wireVarint:
		if f.u64, data, ok = varint(data); !ok {
			return nil, malformed("bad varint")
		}
	case wireFixed64:
		if len(data) < 8 {
			return nil, malformed("not enough data")
		}
		f.u64 = uint64(data[0]) | uint64(data[1])<<8 | uint64(data[2])<<16 | uint64(data[3])<<24 |
			uint64(data[4])<<32 | uint64(data[5])<<40 | uint64(data[6])<<48 | uint64(data[7])<<56
		data = data[8:]
	case wireBytes:
		var n uint64
		if n, data, ok = varint(data); !ok {
			return nil, malformed("bad varint")
		}
		if n > uint64(len(data)) {
			return nil, malformed("too much data")
		}
		f.data, data = data[:n], data[n:]
	case wireFixed32:
		if len(data) < 4 {
			return nil, malformed("not enough data")
		}
		f.u64 = uint64(data[0]) | uint64(data[1])<<8 | uint64(data[2])<<16 | uint64(data[3])<<24
		data = data[4:]
	default:
		return nil, malformed("unknown wire type: %d", f.typ)
	}
	return data, nil
}

func (f *field) scalar() (uint64, error) {
	if f.typ != wireVarint {
		return 0, malformed("type mismatch in field %d", f.num)
	}
	return f.u64, nil
}

func (f *field) message() ([]byte, error) {
	if f.typ != wireBytes {
		return nil, malformed("type mismatch in field %d", f.num)
	}
	return f.data, nil
}

// repeated calls fn for each value of a repeated integer field, packed or not.
func (f *field) repeated(fn func(uint64)) error {
	switch f.typ {
	case wireBytes:
		data := f.data
		for len(data) > 0 {
			var u uint64
			var ok bool
			if u, data, ok = varint(data); !ok {
				return malformed("bad varint")
			}
			fn(u)
		}
		return nil
	case wireVarint:
		fn(f.u64)
		return nil
	}
	return malformed("type mismatch in field %d", f.num)
}

// function is a Function message before its strings are resolved.
type function struct {
	name, file int64
}

// lineRef is a Line message before its function is resolved.
type lineRef struct {
	fn   uint64
	line int64
}

// locationRef is a Location message before its lines are resolved.
type locationRef struct {
	seen    bool
	id      uint64
	address uint64
	lines   []lineRef
}

// decoder holds the state of one Decode.
type decoder struct {
	strings    []string
	sampleType [][2]int64 // type and unit indexes
	// refs lists every other string index the profile uses, to check.
	refs      []int64
	functions map[uint64]function
	mappings  map[uint64]bool
	// Location IDs are given dense indexes as they are first referenced,
	// by a sample or by the location itself.
	dense     []int32 // ID -> index+1 for small IDs
	sparse    map[uint64]int32
	locations []locationRef
	lineBuf   []lineRef

	stacks    *stackSet
	total     []int64
	nv        int // values per sample, from the first sample
	samples   int
	timeNanos uint64
	locs      []int32
	values    []int64
}

func newDecoder() *decoder {
	return &decoder{functions: make(map[uint64]function), mappings: make(map[uint64]bool), sparse: make(map[uint64]int32), nv: -1}
}

const maxDenseID = 1 << 22

// locIndex returns the dense index of location id.
func (d *decoder) locIndex(id uint64) int32 {
	if id < maxDenseID {
		if id >= uint64(len(d.dense)) {
			n := max(2*len(d.dense), int(id)+1, 1024)
			d.dense = append(d.dense, make([]int32, min(n, maxDenseID)-len(d.dense))...)
		}
		if i := d.dense[id]; i > 0 {
			return i - 1
		}
	} else if i, ok := d.sparse[id]; ok {
		return i
	}
	i := int32(len(d.locations))
	d.locations = append(d.locations, locationRef{id: id})
	if id < maxDenseID {
		d.dense[id] = i + 1
	} else {
		d.sparse[id] = i
	}
	return i
}

func (d *decoder) decode(data []byte) error {
	var f field
	var err error
	for len(data) > 0 {
		if data, err = next(data, &f); err != nil {
			return err
		}
		switch f.num {
		case fProfileSampleType, fProfilePeriodType:
			msg, err := f.message()
			if err != nil {
				return err
			}
			vt, err := d.valueType(msg)
			if err != nil {
				return err
			}
			if f.num == fProfileSampleType {
				d.sampleType = append(d.sampleType, vt)
			} else {
				d.refs = append(d.refs, vt[0], vt[1])
			}
		case fProfileSample:
			msg, err := f.message()
			if err != nil {
				return err
			}
			if err := d.sample(msg); err != nil {
				return err
			}
		case fProfileMapping:
			msg, err := f.message()
			if err != nil {
				return err
			}
			if err := d.mapping(msg); err != nil {
				return err
			}
		case fProfileLocation:
			msg, err := f.message()
			if err != nil {
				return err
			}
			if err := d.location(msg); err != nil {
				return err
			}
		case fProfileFunction:
			msg, err := f.message()
			if err != nil {
				return err
			}
			if err := d.function(msg); err != nil {
				return err
			}
		case fProfileString:
			s, err := f.message()
			if err != nil {
				return err
			}
			d.strings = append(d.strings, string(s))
			if d.strings[0] != "" {
				return malformed("string_table[0] must be ''")
			}
		case fProfileTimeNanos:
			if d.timeNanos != 0 {
				return malformed("concatenated profiles detected")
			}
			if d.timeNanos, err = f.scalar(); err != nil {
				return err
			}
		case fProfileDropFrames, fProfileKeepFrames, fProfileDefaultType, fProfileDocURL:
			v, err := f.scalar()
			if err != nil {
				return err
			}
			d.refs = append(d.refs, int64(v))
		case fProfileDuration, fProfilePeriod:
			if _, err := f.scalar(); err != nil {
				return err
			}
		case fProfileComment:
			if err := f.repeated(func(u uint64) { d.refs = append(d.refs, int64(u)) }); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *decoder) valueType(data []byte) ([2]int64, error) {
	var vt [2]int64
	var f field
	var err error
	for len(data) > 0 {
		if data, err = next(data, &f); err != nil {
			return vt, err
		}
		if f.num == 1 || f.num == 2 {
			v, err := f.scalar()
			if err != nil {
				return vt, err
			}
			vt[f.num-1] = int64(v)
		}
	}
	return vt, nil
}

func (d *decoder) sample(data []byte) error {
	d.locs, d.values = d.locs[:0], d.values[:0]
	var f field
	var err error
	var bad bool
	for len(data) > 0 {
		if data, err = next(data, &f); err != nil {
			return err
		}
		switch f.num {
		case 1:
			err = f.repeated(func(id uint64) {
				if id == 0 {
					bad = true // profile.Parse finds no location with ID 0
					return
				}
				d.locs = append(d.locs, d.locIndex(id))
			})
		case 2:
			err = f.repeated(func(v uint64) { d.values = append(d.values, int64(v)) })
		case 3:
			var msg []byte
			if msg, err = f.message(); err == nil {
				err = d.label(msg)
			}
		}
		if err != nil {
			return err
		}
	}
	if bad {
		return malformed("sample has nil location")
	}
	if d.nv < 0 {
		d.nv = len(d.values)
		d.stacks = newStackSet(d.nv)
		d.total = make([]int64, d.nv)
	} else if len(d.values) != d.nv {
		return malformed("samples have %d and %d values", d.nv, len(d.values))
	}
	if d.samples == math.MaxInt32 {
		return malformed("too many samples")
	}
	d.stacks.add(d.locs, d.values, int32(d.samples), d.total)
	d.samples++
	return nil
}

func (d *decoder) label(data []byte) error {
	var key, str, unit uint64
	var f field
	var err error
	for len(data) > 0 {
		if data, err = next(data, &f); err != nil {
			return err
		}
		var v uint64
		if f.num >= 1 && f.num <= 4 {
			if v, err = f.scalar(); err != nil {
				return err
			}
		}
		switch f.num {
		case 1:
			key = v
		case 2:
			str = v
		case 4:
			unit = v
		}
	}
	// profile.Parse resolves the key always, the value string when set,
	// else the unit when set; the number (field 3) needs no check.
	d.refs = append(d.refs, int64(key))
	if str != 0 {
		d.refs = append(d.refs, int64(str))
	} else if unit != 0 {
		d.refs = append(d.refs, int64(unit))
	}
	return nil
}

func (d *decoder) mapping(data []byte) error {
	var id uint64
	var f field
	var err error
	for len(data) > 0 {
		if data, err = next(data, &f); err != nil {
			return err
		}
		if f.num >= 1 && f.num <= 10 {
			v, err := f.scalar()
			if err != nil {
				return err
			}
			switch f.num {
			case 1:
				id = v
			case 5, 6:
				d.refs = append(d.refs, int64(v))
			}
		}
	}
	if id == 0 {
		return malformed("found mapping with reserved ID=0")
	}
	if d.mappings[id] {
		return malformed("multiple mappings with same id: %d", id)
	}
	d.mappings[id] = true
	return nil
}

func (d *decoder) location(data []byte) error {
	var l locationRef
	start := len(d.lineBuf)
	var f field
	var err error
	for len(data) > 0 {
		if data, err = next(data, &f); err != nil {
			return err
		}
		switch f.num {
		case 1, 2, 3, 5:
			v, err := f.scalar()
			if err != nil {
				return err
			}
			switch f.num {
			case 1:
				l.id = v
			case 3:
				l.address = v
			}
		case 4:
			msg, err := f.message()
			if err != nil {
				return err
			}
			ln, err := d.line(msg)
			if err != nil {
				return err
			}
			d.lineBuf = append(d.lineBuf, ln)
		}
	}
	if l.id == 0 {
		return malformed("found location with reserved id=0")
	}
	i := d.locIndex(l.id)
	if d.locations[i].seen {
		return malformed("multiple locations with same id: %d", l.id)
	}
	l.seen = true
	l.lines = d.lineBuf[start:len(d.lineBuf):len(d.lineBuf)]
	d.locations[i] = l
	return nil
}

func (d *decoder) line(data []byte) (lineRef, error) {
	var ln lineRef
	var f field
	var err error
	for len(data) > 0 {
		if data, err = next(data, &f); err != nil {
			return ln, err
		}
		if f.num >= 1 && f.num <= 3 {
			v, err := f.scalar()
			if err != nil {
				return ln, err
			}
			switch f.num {
			case 1:
				ln.fn = v
			case 2:
				ln.line = int64(v)
			}
		}
	}
	return ln, nil
}

func (d *decoder) function(data []byte) error {
	var fn function
	var id uint64
	var f field
	var err error
	for len(data) > 0 {
		if data, err = next(data, &f); err != nil {
			return err
		}
		if f.num >= 1 && f.num <= 5 {
			v, err := f.scalar()
			if err != nil {
				return err
			}
			switch f.num {
			case 1:
				id = v
			case 2:
				fn.name = int64(v)
			case 3:
				d.refs = append(d.refs, int64(v))
			case 4:
				fn.file = int64(v)
			}
		}
	}
	if id == 0 {
		return malformed("found function with reserved ID=0")
	}
	if _, dup := d.functions[id]; dup {
		return malformed("multiple functions with same id: %d", id)
	}
	d.functions[id] = fn
	return nil
}

func (d *decoder) str(i int64) (string, error) {
	if i < 0 || i >= int64(len(d.strings)) {
		return "", malformed("string index %d out of range", i)
	}
	return d.strings[i], nil
}

// finish checks what profile.Parse checks once everything is read, and
// resolves strings and locations.
func (d *decoder) finish() (*Profile, error) {
	p := &Profile{Samples: d.samples}
	// profile.Parse resolves string 0 at least once (the period type, which
	// defaults to empty), so a profile needs a string table.
	if len(d.strings) == 0 {
		return nil, malformed("no string table")
	}
	for _, r := range d.refs {
		if _, err := d.str(r); err != nil {
			return nil, err
		}
	}
	for _, vt := range d.sampleType {
		t, err := d.str(vt[0])
		if err != nil {
			return nil, err
		}
		u, err := d.str(vt[1])
		if err != nil {
			return nil, err
		}
		p.SampleType = append(p.SampleType, ValueType{Type: t, Unit: u})
	}
	if d.samples > 0 && d.nv != len(p.SampleType) {
		if len(p.SampleType) == 0 {
			return nil, malformed("missing sample type information")
		}
		return nil, malformed("mismatch: sample has %d values vs. %d types", d.nv, len(p.SampleType))
	}
	type fnStrings struct{ name, file string }
	fns := make(map[uint64]fnStrings, len(d.functions))
	for id, fn := range d.functions {
		name, err := d.str(fn.name)
		if err != nil {
			return nil, err
		}
		file, err := d.str(fn.file)
		if err != nil {
			return nil, err
		}
		fns[id] = fnStrings{name, file}
	}
	p.Location = make([]Location, len(d.locations))
	lines := make([]Line, len(d.lineBuf))
	for i, l := range d.locations {
		if !l.seen {
			return nil, malformed("sample has nil location")
		}
		loc := Location{ID: l.id, Address: l.address, Line: lines[:len(l.lines):len(l.lines)]}
		lines = lines[len(l.lines):]
		for j, ln := range l.lines {
			fn, ok := fns[ln.fn]
			if ln.fn == 0 || !ok {
				return nil, malformed("location id: %d has a line with nil function", l.id)
			}
			loc.Line[j] = Line{Function: fn.name, File: fn.file, Line: ln.line}
		}
		p.Location[i] = loc
	}
	if d.stacks != nil {
		p.Stack, p.Total = d.stacks.stacks, d.total
	} else {
		p.Total = make([]int64, len(p.SampleType))
	}
	return p, nil
}
